"""Formatting of money, dates and masked identifiers for replies and logs."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def format_cny(value: Decimal | str | int | float) -> str:
    """¥52,380.15 style; negative amounts get a leading minus sign."""
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"


def parse_amount(text: str | None) -> Decimal | None:
    """A positive amount with at most two decimals, or None.

    Accepts the normalised values the NLU extractor produces ("5000", "3500.50") and
    plain typed numbers with separators or a currency sign ("¥3,500.50", "5000元").
    """
    if text is None:
        return None
    cleaned = re.sub(r"[¥￥,，\s元块]|rmb|RMB", "", str(text))
    if not re.fullmatch(r"\d+(\.\d{1,2})?", cleaned):
        return None
    amount = Decimal(cleaned)
    return amount if amount > 0 else None


def mask_phone(phone: str) -> str:
    """138****8000."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_account(number: str) -> str:
    """Only the last four digits survive: 尾号1234."""
    digits = re.sub(r"\D", "", number)
    return f"尾号{digits[-4:]}" if len(digits) >= 4 else "尾号****"


def short_date(value: date | datetime) -> str:
    """11月20日."""
    return f"{value.month}月{value.day}日"


def long_date(value: date | datetime) -> str:
    """2026年12月15日."""
    return f"{value.year}年{value.month}月{value.day}日"


def card_label(name: str, last4: str) -> str:
    """李娜（尾号8888） / 储蓄卡（尾号1234）."""
    return f"{name}（尾号{last4}）"


def term_label(days: int | None) -> str:
    """365 -> 1年, 180 -> 180天, None -> 灵活."""
    if days is None:
        return "灵活申赎"
    if days >= 365 and days % 365 == 0:
        return f"{days // 365}年"
    return f"{days}天"


def clock_time(value: datetime | None) -> str:
    """17:00."""
    return "" if value is None else f"{value:%H:%M}"


def day_and_time(value: datetime | None) -> str:
    """11月19日 09:00."""
    return "" if value is None else f"{value.month}月{value.day}日 {value:%H:%M}"


def percent(value: Decimal | None) -> str:
    """2.60%."""
    return "—" if value is None else f"{value:.2f}%"
