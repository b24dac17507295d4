"""Turns time_range entity values (最近一周, 上个月, 三月份 ...) into date ranges."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Optional

DateRange = tuple[date, date]

_NUM = r"([0-9零〇一二三四五六七八九十两]+)"
_RECENT = r"(?:最近|近|过去|前|这|最後|最后)?"


def _number(text: str) -> Optional[int]:
    """Arabic or Chinese numeral -> int (cn2an, smart mode)."""
    import cn2an

    try:
        value = cn2an.cn2an(text, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if value == int(value) else None


def _shift_months(day: date, months: int) -> date:
    """The same day ``months`` months later (earlier if negative), clamped."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _month_range(year: int, month: int, today: date) -> DateRange:
    """A whole calendar month, cut at today."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    return date(year, month, 1), min(last, today)


def _recent_month(month: int, today: date) -> Optional[DateRange]:
    """The most recent ``month`` (1-12) that is not in the future."""
    if not 1 <= month <= 12:
        return None
    year = today.year if month <= today.month else today.year - 1
    return _month_range(year, month, today)


def _last_days(days: int, today: date) -> Optional[DateRange]:
    if days <= 0:
        return None
    return today - timedelta(days=days - 1), today


def _unit_range(match: re.Match, today: date) -> Optional[DateRange]:
    """最近N天 / 近N周 / 最近N个月 / 近N年."""
    count = _number(match.group(1))
    unit = match.group(2)
    if count is None or count <= 0:
        return None
    if unit in ("天", "日"):
        return _last_days(count, today)
    if unit in ("周", "星期", "礼拜"):
        return _last_days(7 * count, today)
    if unit == "月":
        return _shift_months(today, -count) + timedelta(days=1), today
    if unit == "年":
        return _shift_months(today, -12 * count) + timedelta(days=1), today
    return None


def _explicit_month(match: re.Match, today: date) -> Optional[DateRange]:
    """2024年3月 / 3月 / 三月份."""
    month = _number(match.group(2))
    if month is None:
        return None
    if match.group(1):
        year = _number(match.group(1))
        if year is None or not 1 <= month <= 12:
            return None
        if year < 100:
            year += 2000
        if date(year, month, 1) > today:
            return None
        return _month_range(year, month, today)
    return _recent_month(month, today)


def _explicit_day(match: re.Match, today: date) -> Optional[DateRange]:
    """3月5日 / 三月五号: the most recent such day not in the future."""
    month, day = _number(match.group(1)), _number(match.group(2))
    if month is None or day is None or not 1 <= month <= 12:
        return None
    for year in (today.year, today.year - 1):
        if day > calendar.monthrange(year, month)[1]:
            continue
        candidate = date(year, month, day)
        if candidate <= today:
            return candidate, candidate
    return None


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _fixed(today: date) -> list[tuple[str, Callable[[date], Optional[DateRange]]]]:
    """Phrases whose meaning needs no number."""
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    return [
        ("大前天", lambda t: (t - timedelta(days=3),) * 2),
        ("前天", lambda t: (t - timedelta(days=2),) * 2),
        ("昨天", lambda t: (t - timedelta(days=1),) * 2),
        ("昨日", lambda t: (t - timedelta(days=1),) * 2),
        ("今天", lambda t: (t, t)),
        ("今日", lambda t: (t, t)),
        (
            "上上周",
            lambda t: (_week_start(t) - timedelta(days=14), _week_start(t) - timedelta(days=8)),
        ),
        (
            "上周",
            lambda t: (_week_start(t) - timedelta(days=7), _week_start(t) - timedelta(days=1)),
        ),
        (
            "上星期",
            lambda t: (_week_start(t) - timedelta(days=7), _week_start(t) - timedelta(days=1)),
        ),
        (
            "上个星期",
            lambda t: (_week_start(t) - timedelta(days=7), _week_start(t) - timedelta(days=1)),
        ),
        ("这周", lambda t: (_week_start(t), t)),
        ("本周", lambda t: (_week_start(t), t)),
        ("这星期", lambda t: (_week_start(t), t)),
        ("这个星期", lambda t: (_week_start(t), t)),
        (
            "上上个月",
            lambda t: _month_range(
                _shift_months(first_of_month, -2).year, _shift_months(first_of_month, -2).month, t
            ),
        ),
        ("上个月", lambda t: (last_month_end.replace(day=1), last_month_end)),
        ("上月", lambda t: (last_month_end.replace(day=1), last_month_end)),
        ("这个月", lambda t: (first_of_month, t)),
        ("本月", lambda t: (first_of_month, t)),
        ("当月", lambda t: (first_of_month, t)),
        ("这月", lambda t: (first_of_month, t)),
        ("今年", lambda t: (date(t.year, 1, 1), t)),
        ("本年", lambda t: (date(t.year, 1, 1), t)),
        ("去年", lambda t: (date(t.year - 1, 1, 1), date(t.year - 1, 12, 31))),
        ("半个月", lambda t: _last_days(15, t)),
        ("半年", lambda t: (_shift_months(t, -6) + timedelta(days=1), t)),
    ]


_DAY_RE = re.compile(_NUM + r"月" + _NUM + r"[日号]")
_MONTH_RE = re.compile(r"(?:" + _NUM + r"年)?" + _NUM + r"月(?!份?内)")
_UNIT_RE = re.compile(_RECENT + _NUM + r"个?(天|日|周|星期|礼拜|月|年)")


_MONTH_TYPO_RE = re.compile(r"(上上|上|这|本|下)个?[越阅悦粤]")


def parse_time_range(text: str, today: date) -> Optional[DateRange]:
    """Returns the inclusive (start, end) dates meant by ``text``, or None.

    ``today`` is injected so that results are reproducible.
    """
    if not text:
        return None
    text = re.sub(r"\s+", "", text)
    # A homophone typed for 月 ("上个越", "这个阅"), common with pinyin input.
    text = _MONTH_TYPO_RE.sub(r"\1个月", text)
    unit = _UNIT_RE.search(text)
    if unit and (re.search(r"最近|近|过去|前|内|以来", text) or "个" in unit.group(0)):
        return _unit_range(unit, today)
    day = _DAY_RE.search(text)
    if day:
        return _explicit_day(day, today)
    month = _MONTH_RE.search(text)
    if month:
        return _explicit_month(month, today)
    for phrase, build in _fixed(today):
        if phrase in text:
            return build(today)
    if unit:
        return _unit_range(unit, today)
    return None


# --- product terms (term entity: 一年, 半年, 3个月, 180天, 三年 ...) ------------

DAYS_PER_YEAR, DAYS_PER_MONTH, DAYS_PER_WEEK = 365, 30, 7
_TERM_RE = re.compile(
    r"(?P<count>[0-9零〇一二三四五六七八九十两百]+(?:\.\d+)?|半)"
    r"(?P<unit>个?月|个?季度|年|周|个?星期|个?礼拜|天|日)"
    r"(?P<half>半)?"
)
_TERM_HALF_MONTH_RE = re.compile(r"(?P<count>[0-9零〇一二三四五六七八九十两]+)个半月")
_TERM_EN_RE = re.compile(r"(?P<count>\d+)\s*(?P<unit>year|month|week|day)s?\b", re.IGNORECASE)
_EN_UNITS = {"year": "年", "month": "月", "week": "周", "day": "天"}


def _months_to_days(months: float) -> int:
    """Months -> days: whole years count 365 days, other months 30 (6 个月 = 半年 = 180)."""
    years, rest = divmod(months, 12)
    return round(years * DAYS_PER_YEAR + rest * DAYS_PER_MONTH)


def parse_term_days(text: str) -> Optional[int]:
    """The length in days of a product term such as 一年 (365), 半年 (180), 3个月 (90),
    180天, 三年 (1095), 两年 (730), 一年半 (545), 一个季度 (90), 6 months.

    A year is 365 days, a month 30 (twelve months are a year), a week 7. Words
    around the term (期, 左右, 以内, 的 ...) are ignored; None when there is no term.
    """
    if not text:
        return None
    compact = re.sub(r"\s+", "", text)
    count: Optional[float]
    match = _TERM_HALF_MONTH_RE.search(compact)
    if match:
        months = _number(match.group("count"))
        return None if months is None else months * DAYS_PER_MONTH + DAYS_PER_MONTH // 2
    match = _TERM_RE.search(compact)
    if match:
        raw, unit = match.group("count"), match.group("unit").lstrip("个")
        if raw == "半":
            count = 0.5
        elif re.fullmatch(r"\d+\.\d+", raw):
            count = float(raw)
        else:
            count = _number(raw)
        if match.group("half") and count is not None and unit == "年":
            count += 0.5
    else:
        match = _TERM_EN_RE.search(text)
        if not match:
            return None
        count, unit = int(match.group("count")), _EN_UNITS[match.group("unit").lower()]
    if not count or count <= 0:
        return None
    if unit == "年":
        days = _months_to_days(count * 12)
    elif unit == "月":
        days = _months_to_days(count)
    elif unit == "季度":
        days = _months_to_days(count * 3)
    elif unit in ("周", "星期", "礼拜"):
        days = round(count * DAYS_PER_WEEK)
    else:
        days = round(count)
    return days if days > 0 else None
