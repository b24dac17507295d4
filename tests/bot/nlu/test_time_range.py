"""Tests for bot.nlu.time_range.parse_time_range (today is injected)."""

from datetime import date

import pytest

from bot.nlu.time_range import parse_time_range

TODAY = date(2024, 5, 15)  # a Wednesday


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("今天", date(2024, 5, 15), date(2024, 5, 15)),
        ("今日", date(2024, 5, 15), date(2024, 5, 15)),
        ("昨天", date(2024, 5, 14), date(2024, 5, 14)),
        ("前天", date(2024, 5, 13), date(2024, 5, 13)),
        ("最近一周", date(2024, 5, 9), date(2024, 5, 15)),
        ("近7天", date(2024, 5, 9), date(2024, 5, 15)),
        ("最近七天", date(2024, 5, 9), date(2024, 5, 15)),
        ("一周", date(2024, 5, 9), date(2024, 5, 15)),
        ("这周", date(2024, 5, 13), date(2024, 5, 15)),
        ("本周", date(2024, 5, 13), date(2024, 5, 15)),
        ("上周", date(2024, 5, 6), date(2024, 5, 12)),
        ("近两周", date(2024, 5, 2), date(2024, 5, 15)),
        ("本月", date(2024, 5, 1), date(2024, 5, 15)),
        ("这个月", date(2024, 5, 1), date(2024, 5, 15)),
        ("上个月", date(2024, 4, 1), date(2024, 4, 30)),
        ("上月", date(2024, 4, 1), date(2024, 4, 30)),
        ("上上个月", date(2024, 3, 1), date(2024, 3, 31)),
        ("三月份", date(2024, 3, 1), date(2024, 3, 31)),
        ("3月", date(2024, 3, 1), date(2024, 3, 31)),
        ("五月", date(2024, 5, 1), date(2024, 5, 15)),
        ("六月份", date(2023, 6, 1), date(2023, 6, 30)),
        ("12月", date(2023, 12, 1), date(2023, 12, 31)),
        ("2023年3月", date(2023, 3, 1), date(2023, 3, 31)),
        ("3月5号", date(2024, 3, 5), date(2024, 3, 5)),
        ("三月五日", date(2024, 3, 5), date(2024, 3, 5)),
        ("最近30天", date(2024, 4, 16), date(2024, 5, 15)),
        ("近一个月", date(2024, 4, 16), date(2024, 5, 15)),
        ("最近三个月", date(2024, 2, 16), date(2024, 5, 15)),
        ("前三天", date(2024, 5, 13), date(2024, 5, 15)),
        ("最近半年", date(2023, 11, 16), date(2024, 5, 15)),
        ("今年", date(2024, 1, 1), date(2024, 5, 15)),
        ("去年", date(2023, 1, 1), date(2023, 12, 31)),
        ("最近 一周 的", date(2024, 5, 9), date(2024, 5, 15)),
    ],
)
def test_parse_time_range(text, start, end):
    assert parse_time_range(text, TODAY) == (start, end)


@pytest.mark.parametrize("text", ["", "随便", "2025年1月", "13月", "2月30号"])
def test_unparseable_or_future(text):
    assert parse_time_range(text, TODAY) is None


def test_last_month_across_a_year_boundary():
    assert parse_time_range("上个月", date(2024, 1, 10)) == (
        date(2023, 12, 1),
        date(2023, 12, 31),
    )


def test_month_arithmetic_clamps_short_months():
    assert parse_time_range("最近一个月", date(2024, 3, 31)) == (
        date(2024, 3, 1),
        date(2024, 3, 31),
    )


def test_this_week_on_a_monday():
    monday = date(2024, 5, 13)
    assert parse_time_range("这周", monday) == (monday, monday)


# --- parse_term_days -------------------------------------------------------

from bot.nlu.time_range import parse_term_days  # noqa: E402


@pytest.mark.parametrize(
    "text, days",
    [
        ("一年", 365),
        ("半年", 180),
        ("3个月", 90),
        ("180天", 180),
        ("三年", 1095),
        ("两年", 730),
        ("1年", 365),
        ("一年期", 365),
        ("三年期", 1095),
        ("六个月", 180),
        ("6个月", 180),
        ("十二个月", 365),
        ("18个月", 545),
        ("一年半", 545),
        ("一个半月", 45),
        ("半个月", 15),
        ("90天", 90),
        ("一个季度", 90),
        ("两周", 14),
        ("三个星期", 21),
        ("一年左右", 365),
        ("大概半年", 180),
        ("3个月以内", 90),
        ("一年內", 365),
        ("1.5年", 545),
        ("6 months", 180),
        ("1 year", 365),
        ("180 days", 180),
    ],
)
def test_parse_term_days(text, days):
    assert parse_term_days(text) == days


@pytest.mark.parametrize("text", ["", "理财", "很久", "零天", "半天", "长期"])
def test_parse_term_days_without_a_term(text):
    assert parse_term_days(text) is None
