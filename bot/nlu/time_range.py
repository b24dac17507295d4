"""Turns time_range entity values (最近一周, 上个月, 三月份, 10月1号到7号, 国庆 ...)
into date ranges, and date ranges into display labels (period_label)."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Optional

DateRange = tuple[date, date]

_DIGITS = r"[0-9零〇一二三四五六七八九十两]+"
_NUM = r"(" + _DIGITS + r")"
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


def _explicit_day(
    year: Optional[str], month_text: str, day_text: str, today: date
) -> Optional[DateRange]:
    """3月5日 / 三月五号 / 2025年10月1日 / 2026-10-01 / 10/1: the most recent such
    day not in the future (the year, when given, is kept)."""
    month, day = _number(month_text), _number(day_text)
    if month is None or day is None or not 1 <= month <= 12:
        return None
    if year:
        fixed = _year(year)
        candidate = _valid_date(fixed, month, day) if fixed else None
        return (candidate, candidate) if candidate and candidate <= today else None
    for year_ in (today.year, today.year - 1):
        candidate = _valid_date(year_, month, day)
        if candidate and candidate <= today:
            return candidate, candidate
    return None


def _year(text: str) -> Optional[int]:
    """2026 / 二零二六 / 26 -> 2026; None when it cannot be a statement year."""
    year = _number(text)
    if year is None:
        return None
    if year < 100:
        year += 2000
    return year if 1900 <= year <= 2100 else None


def _valid_date(year: int, month: int, day: int) -> Optional[date]:
    """The date, or None when it does not exist (2月30日)."""
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _clip(start: Optional[date], end: Optional[date], today: date) -> Optional[DateRange]:
    """start..end cut at today; None when it has not begun or runs backwards."""
    if start is None or end is None or start > today or end < start:
        return None
    return start, min(end, today)


# --- explicit ranges (10月1号到7号, 2026-10-01到2026-10-07, 10.1-10.7 ...) ------

# NFKC has already turned ～ and － into ~ and -.
_CONNECT = r"(?:到|至|~|-|—|–|〜)"
# A range of dates is not an amount range (1.5-2.5万, 10.1-10.7%).
_NOT_AMOUNT = r"(?![0-9.万千百亿元块角毛分%倍折wWkK])"


def _date_pattern(p: str, *, bare_day: bool = False) -> str:
    """A date whose groups are prefixed ``p``: 2026-10-01, 2026年10月1日, 10月1号,
    10/1, 10.1 and, for the end of a range, a bare day (到7号)."""
    forms = [
        rf"(?P<{p}iy>\d{{4}})[-/.](?P<{p}im>\d{{1,2}})[-/.](?P<{p}id>\d{{1,2}})(?!\d)[日号]?",
        rf"(?:(?P<{p}cy>{_DIGITS})年)?(?P<{p}cm>{_DIGITS})月份?(?P<{p}cd>{_DIGITS})[日号]?",
        rf"(?<![0-9./])(?P<{p}sm>\d{{1,2}})(?P<{p}sep>[/.])(?P<{p}sd>\d{{1,2}})(?![0-9/])[日号]?",
    ]
    if bare_day:
        forms.append(rf"(?P<{p}bd>{_DIGITS})[日号]?")
    return "(?:" + "|".join(forms) + ")"


def _date_parts(match: re.Match, p: str) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(year, month, day) as written, from groups prefixed ``p``; missing parts None."""
    for year, month, day in (("iy", "im", "id"), ("cy", "cm", "cd"), (None, "sm", "sd")):
        if match.group(p + day):
            return match.group(p + year) if year else None, match.group(p + month), match.group(p + day)
    return None, None, match.groupdict().get(p + "bd")


_RANGE_RE = re.compile(_date_pattern("s") + _CONNECT + _date_pattern("e", bare_day=True) + _NOT_AMOUNT)
# 1号到7号: days of the month under discussion (or the current one).
_BARE_RANGE_RE = re.compile(
    # Not 最近3-5日, a count of days.
    r"(?<![0-9零〇一二三四五六七八九十两月./近去前-])" + _NUM + r"[日号]?" + _CONNECT + _NUM + r"[日号]"
)
# 10月1号以来 / 10月1号到现在: from that day to today.
_SINCE_RE = re.compile(
    _date_pattern("s") + r"(?:(?:到|至)(?:今天|今日|现在|目前|今)|以来|之后|以后|起)"
)


class _NotDates(Exception):
    """The numbers cannot be dates (3月5号到3000块): keep looking."""


def _checked(text: Optional[str], low: int, high: int) -> Optional[int]:
    """A written month or day within bounds; None when absent."""
    if text is None:
        return None
    value = _number(text)
    if value is None or not low <= value <= high:
        raise _NotDates
    return value


def _start_of(match: re.Match, today: date) -> Optional[date]:
    """The start date of a range: its year if written, else the most recent one
    in which it is not in the future."""
    year_text, month_text, day_text = _date_parts(match, "s")
    month, day = _checked(month_text, 1, 12), _checked(day_text, 1, 31)
    if month is None or day is None:
        raise _NotDates
    if year_text:
        year = _year(year_text)
        if year is None:
            raise _NotDates
        return _valid_date(year, month, day)
    for year in (today.year, today.year - 1):
        start = _valid_date(year, month, day)
        if start and start <= today:
            return start
    return None


def _explicit_range(match: re.Match, today: date) -> Optional[DateRange]:
    """10月1号到7号 / 2026-10-01到2026-10-07 / 10/1到10/7 / 12月25日到1月3日."""
    year_text, month_text, day_text = _date_parts(match, "e")
    month, day = _checked(month_text, 1, 12), _checked(day_text, 1, 31)
    if day is None or (match.group("ssep") == "." and month is None):
        raise _NotDates  # 1.5-2 is more likely two amounts than 1月5日到2日
    start = _start_of(match, today)
    if start is None:
        return None
    if year_text:
        year = _year(year_text)
        if year is None:
            raise _NotDates
        return _clip(start, _valid_date(year, month or start.month, day), today)
    if month is None:
        # 10月25号到5号 ends in the next month.
        month, year = start.month, start.year
        if day < start.day:
            following = _shift_months(start.replace(day=1), 1)
            month, year = following.month, following.year
        return _clip(start, _valid_date(year, month, day), today)
    # 12月25日到1月3日 ends next year; 10月7日到10月1日 was typed backwards.
    year = start.year + (month < start.month)
    end = _valid_date(year, month, day)
    if end is not None and end < start:
        start, end = end, start
    return _clip(start, end, today)


def _bare_range(match: re.Match, today: date, context: Optional[DateRange]) -> Optional[DateRange]:
    """1号到7号: in the month of ``context`` when that is one month, else in the
    current month (the previous one if the first day is still to come)."""
    first, last = _checked(match.group(1), 1, 31), _checked(match.group(2), 1, 31)
    if first is None or last is None or last < first:
        raise _NotDates
    if context and (context[0].year, context[0].month) == (context[1].year, context[1].month):
        year, month = context[0].year, context[0].month
    else:
        year, month = today.year, today.month
        if first > today.day:
            previous = _shift_months(today.replace(day=1), -1)
            year, month = previous.year, previous.month
    end = _valid_date(year, month, min(last, calendar.monthrange(year, month)[1]))
    return _clip(_valid_date(year, month, first), end, today)


def _since(match: re.Match, today: date) -> Optional[DateRange]:
    """10月1号以来 / 10月1号到现在."""
    return _clip(_start_of(match, today), today, today)


# --- parts of a month (10月份前7天, 10月上旬) ---------------------------------

_MONTH_PART_RE = re.compile(
    r"(?:" + _NUM + r"年)?" + _NUM + r"月份?的?"
    r"(?:(?:前|头)" + _NUM + r"个?(天|日|周|星期|礼拜)|(上|中|下)旬)"
)


def _month_part(match: re.Match, today: date) -> Optional[DateRange]:
    """The first N days (or weeks) of a month, or one of its thirds (旬)."""
    month = _number(match.group(2))
    if month is None or not 1 <= month <= 12:
        return None
    if match.group(1):
        year = _year(match.group(1))
        if year is None:
            return None
    else:
        year = today.year if month <= today.month else today.year - 1
    length = calendar.monthrange(year, month)[1]
    if match.group(5):
        first, last = {"上": (1, 10), "中": (11, 20), "下": (21, length)}[match.group(5)]
    else:
        count = _number(match.group(3))
        if not count:
            return None
        first, last = 1, count * (1 if match.group(4) in ("天", "日") else 7)
    return _clip(date(year, month, first), date(year, month, min(last, length)), today)


# --- holidays --------------------------------------------------------------

# 十一 alone would also be 十一月 (November) or a number, so it needs a holiday word.
_NATIONAL_DAY_RE = re.compile(
    r"(?:(" + _DIGITS + r")年)?的?(?:国庆|十一(?:黄金周|长假|小长假|假期|期间|那几天|那周|那一周))"
)


def _national_day(match: re.Match, today: date) -> Optional[DateRange]:
    """国庆 / 十一黄金周: October 1-7 of the given year, or the most recent one
    that has begun. 春节 is not handled: it needs a lunar calendar."""
    if match.group(1):
        year = _year(match.group(1))
    else:
        year = today.year if (today.month, today.day) >= (10, 1) else today.year - 1
    return _clip(date(year, 10, 1), date(year, 10, 7), today) if year else None


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


_DAY_RE = re.compile(r"(?:" + _NUM + r"年)?" + _NUM + r"月" + _NUM + r"[日号]")
_ISO_DAY_RE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
# 10/1, or 10.1号 (a bare 10.1 is more likely an amount).
_SHORT_DAY_RE = re.compile(r"(?<![0-9./])(\d{1,2})(?:/(\d{1,2})(?![0-9/.])|\.(\d{1,2})[日号])")
_MONTH_RE = re.compile(r"(?:" + _NUM + r"年)?" + _NUM + r"月(?!份?内)")
_UNIT_RE = re.compile(_RECENT + _NUM + r"个?(天|日|周|星期|礼拜|月|年)")


_MONTH_TYPO_RE = re.compile(r"(上上|上|这|本|下)个?[越阅悦粤]")


# Traditional characters customers type in time phrases (上個禮拜, 國慶).
_TRADITIONAL = str.maketrans("禮個這號週慶國節內兩後來間黃長幾過頭當從", "礼个这号周庆国节内两后来间黄长几过头当从")
# 上个礼拜 / 这星期 / 上一周 all name a calendar week, like 上周 / 这周.
_WEEK_RE = re.compile(r"(上上|上|这|本)一?个?(?:星期|礼拜|周(?!期))")


# 去年10月 / 去年国庆: the year is written out so that the dated patterns keep it.
_RELATIVE_YEAR_RE = re.compile(
    r"(今年|去年|前年)的?(?=" + _DIGITS + r"月|国庆|十一(?:黄金周|长假|小长假|假期|期间))"
)


def _normalise(text: str, today: date) -> str:
    """One spelling for what customers type in many ways."""
    text = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL)
    text = re.sub(r"\s+", "", text)
    text = _RELATIVE_YEAR_RE.sub(
        lambda m: f"{today.year - ('今年', '去年', '前年').index(m.group(1))}年", text
    )
    # A homophone typed for 月 ("上个越", "这个阅"), common with pinyin input.
    text = _MONTH_TYPO_RE.sub(r"\1个月", text)
    return _WEEK_RE.sub(r"\1周", text)


def _range_in(
    text: str, today: date, context: Optional[DateRange]
) -> tuple[bool, Optional[DateRange]]:
    """(found, range) for an explicit range; found with None when it cannot be
    served (in the future, 2月30日), so that no part of it is read as one day."""
    for pattern, build in (
        (_RANGE_RE, lambda m: _explicit_range(m, today)),
        (_BARE_RANGE_RE, lambda m: _bare_range(m, today, context)),
        (_SINCE_RE, lambda m: _since(m, today)),
    ):
        for match in pattern.finditer(text):
            try:
                return True, build(match)
            except _NotDates:
                continue
    return False, None


def parse_time_range(
    text: str, today: date, context: Optional[DateRange] = None
) -> Optional[DateRange]:
    """Returns the inclusive (start, end) dates meant by ``text``, or None.

    ``today`` is injected so that results are reproducible. ``context`` is the
    period under discussion: a bare 1号到7号 falls in its month.
    """
    if not text:
        return None
    text = _normalise(text, today)
    found, explicit = _range_in(text, today, context)
    if found:
        return explicit
    part = _MONTH_PART_RE.search(text)
    if part:
        return _month_part(part, today)
    unit = _UNIT_RE.search(text)
    if unit and (re.search(r"最近|近|过去|前|内|以来", text) or "个" in unit.group(0)):
        return _unit_range(unit, today)
    day = _ISO_DAY_RE.search(text) or _DAY_RE.search(text)
    if day:
        return _explicit_day(day.group(1), day.group(2), day.group(3), today)
    short = _SHORT_DAY_RE.search(text)
    if short:
        return _explicit_day(None, short.group(1), short.group(2) or short.group(3), today)
    holiday = _NATIONAL_DAY_RE.search(text)
    if holiday:
        return _national_day(holiday, today)
    month = _MONTH_RE.search(text)
    if month:
        return _explicit_month(month, today)
    for phrase, build in _fixed(today):
        if phrase in text:
            return build(today)
    if unit:
        return _unit_range(unit, today)
    return None


def _day_label(day: date, with_year: bool) -> str:
    """10月1日, or 2025年10月1日 when the year must be said."""
    return f"{day.year}年{day.month}月{day.day}日" if with_year else f"{day.month}月{day.day}日"


def period_label(period: DateRange, today: date) -> str:
    """A short label for showing ``period``: 今天, 昨天, 10月1日, 本月, 10月,
    11月9日至11月15日 (the year only when it is not today's).

    Built from the dates alone, so it never repeats the customer's sentence.
    """
    start, end = period
    with_year = start.year != today.year or end.year != today.year
    if start == end:
        named = {today: "今天", today - timedelta(days=1): "昨天", today - timedelta(days=2): "前天"}
        return named.get(start) or _day_label(start, with_year)
    month_end = date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
    if start.day == 1 and (end == month_end or (end == today and end < month_end)):
        if (start.year, start.month) == (today.year, today.month):
            return "本月"
        return f"{start.year}年{start.month}月" if with_year else f"{start.month}月"
    if (start.month, start.day) == (1, 1) and start.year == end.year:
        if end == today:
            return "今年"
        if (end.month, end.day) == (12, 31):
            return f"{start.year}年"
    return f"{_day_label(start, with_year)}至{_day_label(end, with_year)}"


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
