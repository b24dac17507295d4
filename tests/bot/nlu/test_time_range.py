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


# --- phrasings from the blind trial (bank clock 2026-11-18, a Wednesday) -------

from bot.nlu.time_range import period_label  # noqa: E402

BANK_DAY = date(2026, 11, 18)
LAST_WEEK = (date(2026, 11, 9), date(2026, 11, 15))
NATIONAL_DAY = (date(2026, 10, 1), date(2026, 10, 7))
LAST_7_DAYS = (date(2026, 11, 12), date(2026, 11, 18))


@pytest.mark.parametrize(
    "text, period",
    [
        # 礼拜 / 星期 are 周, traditional characters too.
        ("看看我上个礼拜的流水", LAST_WEEK),
        ("我说的是上礼拜的", LAST_WEEK),
        ("上个星期", LAST_WEEK),
        ("上一周", LAST_WEEK),
        ("上個禮拜", LAST_WEEK),
        ("上週的消費", LAST_WEEK),
        ("上周一共花了多少", LAST_WEEK),
        ("上上个礼拜", (date(2026, 11, 2), date(2026, 11, 8))),
        ("这个礼拜", (date(2026, 11, 16), BANK_DAY)),
        ("本礼拜", (date(2026, 11, 16), BANK_DAY)),
        # Explicit day ranges: the whole range, not its first day.
        ("国庆那几天我花了多少钱 10月1号到7号", NATIONAL_DAY),
        ("查一下10月1日到10月7日的消费记录", NATIONAL_DAY),
        ("10月份前7天的消费", NATIONAL_DAY),
        ("10月的前一周", NATIONAL_DAY),
        ("十月一号到七号", NATIONAL_DAY),
        ("10月1号-7号", NATIONAL_DAY),
        ("10月1号 - 7号", NATIONAL_DAY),
        ("10 月 1 日 至 10 月 7 日", NATIONAL_DAY),
        ("10月1到7号", NATIONAL_DAY),
        ("10月1日~10月7日", NATIONAL_DAY),
        ("１０月１号～７号", NATIONAL_DAY),
        ("10月1日—10月7日", NATIONAL_DAY),
        ("从10月1号到10月7号之间", NATIONAL_DAY),
        ("10月7号到10月1号", NATIONAL_DAY),
        ("十月一號到七號", NATIONAL_DAY),
        ("2026-10-01到2026-10-07", NATIONAL_DAY),
        ("2026-10-01 至 2026-10-07", NATIONAL_DAY),
        ("2026/10/1到2026/10/7", NATIONAL_DAY),
        ("2026年10月1日到2026年10月7日", NATIONAL_DAY),
        ("10.1-10.7", NATIONAL_DAY),
        ("10/1到10/7", NATIONAL_DAY),
        ("10/1-7", NATIONAL_DAY),
        ("去年10月1号到7号", (date(2025, 10, 1), date(2025, 10, 7))),
        ("二零二五年十月一号到七号", (date(2025, 10, 1), date(2025, 10, 7))),
        ("12月25日到1月3日", (date(2025, 12, 25), date(2026, 1, 3))),
        ("10月25号到5号", (date(2026, 10, 25), date(2026, 11, 5))),
        ("11月15号到11月20号", (date(2026, 11, 15), BANK_DAY)),
        ("10月1号以来", (date(2026, 10, 1), BANK_DAY)),
        ("10月1号到现在", (date(2026, 10, 1), BANK_DAY)),
        ("10月上旬", (date(2026, 10, 1), date(2026, 10, 10))),
        ("10月下旬", (date(2026, 10, 21), date(2026, 10, 31))),
        # Days without a month: the current month.
        ("是1号到7号 七天的", (date(2026, 11, 1), date(2026, 11, 7))),
        ("一号到七号", (date(2026, 11, 1), date(2026, 11, 7))),
        ("25号到30号", (date(2026, 10, 25), date(2026, 10, 30))),
        # Single dates in any notation.
        ("2026-10-01", (date(2026, 10, 1), date(2026, 10, 1))),
        ("2026/10/1", (date(2026, 10, 1), date(2026, 10, 1))),
        ("10/1的消费", (date(2026, 10, 1), date(2026, 10, 1))),
        ("10.1号", (date(2026, 10, 1), date(2026, 10, 1))),
        ("2025年10月1日", (date(2025, 10, 1), date(2025, 10, 1))),
        ("3月5号到3000块的那笔", (date(2026, 3, 5), date(2026, 3, 5))),
        # The National Day holiday.
        ("国庆", NATIONAL_DAY),
        ("国庆节", NATIONAL_DAY),
        ("国庆期间花了多少", NATIONAL_DAY),
        ("十一黄金周", NATIONAL_DAY),
        ("十一长假的流水", NATIONAL_DAY),
        ("國慶節", NATIONAL_DAY),
        ("去年国庆", (date(2025, 10, 1), date(2025, 10, 7))),
        ("2024年国庆", (date(2024, 10, 1), date(2024, 10, 7))),
        ("国庆期间 10月3号那天", (date(2026, 10, 3), date(2026, 10, 3))),
        # The last N days, ending today.
        ("前7天", LAST_7_DAYS),
        ("最近7天", LAST_7_DAYS),
        ("近一周", LAST_7_DAYS),
        ("近一个礼拜", LAST_7_DAYS),
        ("今天谁给我转钱了", (BANK_DAY, BANK_DAY)),
        # 十一 with 月 is still November.
        ("十一月", (date(2026, 11, 1), BANK_DAY)),
        ("十一月一号到七号", (date(2026, 11, 1), date(2026, 11, 7))),
        ("去年的十月", (date(2025, 10, 1), date(2025, 10, 31))),
    ],
)
def test_trial_phrasings(text, period):
    assert parse_time_range(text, BANK_DAY) == period


@pytest.mark.parametrize(
    "text",
    [
        "春节",  # needs a lunar calendar: not guessed
        "春节期间花了多少",
        "五一黄金周",
        "2027年1月1号到1月7号",
        "2月30号到3月2号",
        "3到5个工作日",
        "转了1.5-2.5万",
        "10.1-10.7%",
        "1.5-2",
        "转了10.5元",
        "1号线到7号线",
        "上个周期的账单",
    ],
)
def test_not_a_period_or_not_yet(text):
    assert parse_time_range(text, BANK_DAY) is None


def test_bare_days_take_the_month_under_discussion():
    october = (date(2026, 10, 1), date(2026, 10, 31))
    assert parse_time_range("是1号到7号 七天的", BANK_DAY, context=october) == NATIONAL_DAY
    # A context spanning months says nothing about which month is meant.
    spanning = (date(2026, 10, 20), BANK_DAY)
    assert parse_time_range("1号到7号", BANK_DAY, context=spanning) == (
        date(2026, 11, 1),
        date(2026, 11, 7),
    )


def test_bare_days_still_to_come_are_last_months():
    assert parse_time_range("1号到7号", date(2026, 11, 3)) == (date(2026, 11, 1), date(2026, 11, 3))
    assert parse_time_range("5号到7号", date(2026, 11, 3)) == (date(2026, 10, 5), date(2026, 10, 7))


@pytest.mark.parametrize(
    "today, period",
    [
        (date(2026, 10, 3), (date(2026, 10, 1), date(2026, 10, 3))),  # during it
        (date(2026, 9, 20), (date(2025, 10, 1), date(2025, 10, 7))),  # not yet this year
    ],
)
def test_national_day_is_the_latest_begun(today, period):
    assert parse_time_range("国庆", today) == period


@pytest.mark.parametrize(
    "text, label",
    [
        ("今天谁给我转钱了", "今天"),
        ("昨天", "昨天"),
        ("前天", "前天"),
        ("10月1号", "10月1日"),
        ("看看我上个礼拜的流水", "11月9日至11月15日"),
        ("国庆那几天我花了多少钱 10月1号到7号", "10月1日至10月7日"),
        ("最近30天", "10月20日至11月18日"),
        ("上个月", "10月"),
        ("本月", "本月"),
        ("今年", "今年"),
        ("去年", "2025年"),
        ("2025年3月", "2025年3月"),
        ("2025年10月1日", "2025年10月1日"),
        ("12月25日到1月3日", "2025年12月25日至2026年1月3日"),
    ],
)
def test_period_label_is_built_from_the_dates(text, label):
    assert period_label(parse_time_range(text, BANK_DAY), BANK_DAY) == label
