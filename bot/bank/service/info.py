"""Public information: the bank's clock, hotlines with their hours, housing-loan rates."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import CST
from ..errors import NotFound
from ..models import BankContact, MortgageRate, PrepaymentRule
from . import Ctx, money

TIMEZONE = "Asia/Shanghai"  # China Standard Time, UTC+8 all year (no daylight saving)
ONLINE_STAFF = "online_staff"  # the contact whose hours are those of 人工客服 in chat
DAYS = ("always", "daily", "workdays")


def bank_time(ctx: Ctx) -> dict[str, Any]:
    """The bank's clock (the sandbox clock when it is set) in Beijing time."""
    now = ctx.now.astimezone(CST)
    return {"now": now, "today": now.date(), "timezone": TIMEZONE}


def _at(day: datetime, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day.date(), time(hour, minute), CST)


def _open_on(contact: BankContact, day: datetime) -> bool:
    return contact.days == "daily" or (contact.days == "workdays" and day.weekday() < 5)


def contact_state(contact: BankContact, now: datetime) -> dict[str, Any]:
    """``open_now`` plus ``closes_at`` (when open) or ``next_open`` (when closed); a line
    open around the clock is always open. Working days are Monday to Friday."""
    now = now.astimezone(CST)
    if contact.days == "always" or not (contact.opens and contact.closes):
        return {"open_now": True, "next_open": None, "closes_at": None}
    if _open_on(contact, now) and _at(now, contact.opens) <= now < _at(now, contact.closes):
        return {"open_now": True, "next_open": None, "closes_at": _at(now, contact.closes)}
    for days in range(0, 8):
        day = now + timedelta(days=days)
        opens = _at(day, contact.opens)
        if _open_on(contact, day) and opens > now:
            return {"open_now": False, "next_open": opens, "closes_at": None}
    return {"open_now": False, "next_open": None, "closes_at": None}  # pragma: no cover


def contact_view(contact: BankContact, now: datetime) -> dict[str, Any]:
    return {
        "code": contact.code,
        "name": contact.name,
        "phone": contact.phone,
        "other_phones": list(contact.other_phones or []),
        "email": contact.email,
        "hours": contact.hours_text,
        "days": contact.days,
        "opens": contact.opens,
        "closes": contact.closes,
        **contact_state(contact, now),
        "note": contact.note,
    }


def contacts(session: Session, ctx: Ctx, code: str | None = None) -> list[dict[str, Any]]:
    """Every hotline and desk in the bank's order, or the one named by ``code``."""
    stmt = select(BankContact).order_by(BankContact.position, BankContact.code)
    if code is not None:
        stmt = stmt.where(BankContact.code == code)
    rows = [contact_view(c, ctx.now) for c in session.execute(stmt).scalars()]
    if code is not None and not rows:
        raise NotFound(f"No contact {code!r}.", code=code)
    return rows


def online_staff(session: Session, ctx: Ctx) -> dict[str, Any]:
    """Hours of 在线人工客服 now; every day 08:00-22:00 when the row is missing."""
    contact = session.get(BankContact, ONLINE_STAFF) or BankContact(
        code=ONLINE_STAFF,
        name="在线人工客服",
        other_phones=[],
        hours_text="每天 8:00-22:00",
        days="daily",
        opens="08:00",
        closes="22:00",
    )
    return contact_view(contact, ctx.now)


def percent(value: Decimal | None) -> str | None:
    """A rate in percent with at least two decimals: 3.050 -> "3.05", 2.525 -> "2.525"."""
    if value is None:
        return None
    text = f"{value.normalize():f}"
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _rate_view(rate: MortgageRate) -> dict[str, Any]:
    return {
        "code": rate.code,
        "name": rate.name,
        "home": rate.home,
        "term": rate.term,
        "base": rate.base,
        "base_rate": percent(rate.base_rate),
        "spread_bp": rate.spread_bp,
        "rate": percent(rate.rate),
        "as_of": rate.as_of,
    }


def mortgage_rates(session: Session, ctx: Ctx) -> dict[str, Any]:
    """Commercial (LPR plus a spread) and provident-fund housing-loan rates, and the
    rules for repaying early."""
    rates = list(
        session.execute(
            select(MortgageRate).order_by(MortgageRate.position, MortgageRate.code)
        ).scalars()
    )
    if not rates:
        raise NotFound("No housing-loan rates are published.")
    lpr = next((r for r in rates if r.base == "LPR5Y"), None)
    rules = session.execute(
        select(PrepaymentRule).order_by(PrepaymentRule.position, PrepaymentRule.loan_type)
    ).scalars()
    return {
        "as_of": max(r.as_of for r in rates),
        "lpr_5y": (
            {"name": "5年期以上LPR", "rate": percent(lpr.base_rate), "as_of": lpr.as_of}
            if lpr
            else None
        ),
        "commercial": [_rate_view(r) for r in rates if r.loan_type == "commercial"],
        "provident_fund": [_rate_view(r) for r in rates if r.loan_type == "provident_fund"],
        "prepayment": [
            {
                "loan_type": rule.loan_type,
                "name": rule.name,
                "notice_working_days": rule.notice_working_days,
                "notice": rule.notice_text,
                "min_amount": money(rule.min_amount),
                "min_amount_text": rule.min_amount_text,
                "fee": rule.fee_text,
                "channels": list(rule.channels or []),
                "note": rule.note,
            }
            for rule in rules
        ],
        "note": "利率为年化利率，以借款合同约定为准；实际利率根据借款人资质和所在城市政策确定。",
    }
