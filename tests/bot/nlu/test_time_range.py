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
