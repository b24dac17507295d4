"""Statements: items plus totals over every match, kinds, Beijing dates, seeded months."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from bot.bank.clock import CST
from bot.bank.seed import ZHANG_TRANSACTIONS, previous_month, zhang_history
from bot.bank.testing import TEST_START

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31"}


async def statement(bank, token, **params):
    return await bank.get("/transactions", token, **params)


def total(items, sign):
    return sum((Decimal(t["amount"]) for t in items if sign * Decimal(t["amount"]) > 0), Decimal(0))


async def test_summary_covers_every_match_not_only_the_page(bank):
    token = await bank.token()
    page = await statement(bank, token, limit=3, **OCTOBER)
    everything = await statement(bank, token, limit=100, **OCTOBER)
    assert len(page["items"]) == 3 and len(everything["items"]) == 23
    assert page["summary"] == {**everything["summary"], "has_more": True}
    assert everything["summary"] == {
        "count": 23,
        "spending_total": "11541.20",
        "income_total": "19000.00",  # salary 18500 + 李娜's transfer of 500
        "net": "7458.80",
        "has_more": False,
        "start": "2026-10-01",
        "end": "2026-10-31",
        "kind": None,
        "merchant": None,
        "account_last4": None,
    }
    items = everything["items"]
    assert f"{-total(items, -1):.2f}" == "11541.20" and f"{total(items, 1):.2f}" == "19000.00"


async def test_october_has_meituan_eleme_and_salary(bank):
    token = await bank.token()
    meituan = await statement(bank, token, merchant="美团", kind="消费", limit=100, **OCTOBER)
    assert meituan["summary"]["count"] == 4 and meituan["summary"]["spending_total"] == "197.70"
    assert meituan["summary"]["income_total"] == "0.00"
    eleme = await statement(bank, token, merchant="饿了么", limit=100, **OCTOBER)
    assert eleme["summary"]["count"] == 5 and eleme["summary"]["spending_total"] == "209.20"
    assert all(t["merchant"] == "饿了么" for t in eleme["items"])
    salary = await statement(bank, token, merchant="工资", **OCTOBER)
    assert [(t["posted_at"], t["amount"]) for t in salary["items"]] == [
        ("2026-10-20T09:15:00+08:00", "18500.00")
    ]


async def test_kinds_spending_income_and_purchases(bank):
    token = await bank.token()
    by_kind = {
        kind: await statement(bank, token, kind=kind, limit=100, **OCTOBER)
        for kind in ("消费", "支出", "收入", "转账", "转入", "转出", "缴费")
    }
    # 支出: every outflow; 消费: purchases only; 收入: every inflow (transfers in too)
    assert all(Decimal(t["amount"]) < 0 for t in by_kind["支出"]["items"])
    assert by_kind["支出"]["summary"]["spending_total"] == "11541.20"
    assert {t["kind"] for t in by_kind["支出"]["items"]} == {"消费", "转账", "缴费"}
    assert {t["kind"] for t in by_kind["消费"]["items"]} == {"消费"}
    assert by_kind["消费"]["summary"]["count"] < by_kind["支出"]["summary"]["count"]
    income = by_kind["收入"]
    assert [t["description"] for t in income["items"]] == ["工资", "李娜转入"]
    assert income["summary"] == {
        **income["summary"],
        "count": 2,
        "income_total": "19000.00",
        "spending_total": "0.00",
        "kind": "收入",
    }
    assert [t["description"] for t in by_kind["转入"]["items"]] == ["李娜转入"]
    assert all(Decimal(t["amount"]) < 0 for t in by_kind["转出"]["items"])
    assert (
        by_kind["转入"]["summary"]["count"] + by_kind["转出"]["summary"]["count"]
        == by_kind["转账"]["summary"]["count"]
    )
    counts = [by_kind[k]["summary"]["count"] for k in ("消费", "转账", "缴费")]
    assert sum(counts) == by_kind["支出"]["summary"]["count"] + 1  # + the transfer in


async def test_dates_are_beijing_dates(bank, clock):
    # 00:30 Beijing time on 18 November is still 17 November in UTC
    clock.set(datetime(2026, 11, 18, 0, 30, tzinfo=CST))
    token = await bank.token(user="o-late")
    resp = await bank.client.post(
        "/transfers",
        headers=bank.auth(token),
        json={"payee": "李娜", "amount": "10.00", "channel": "web", "idempotency_key": "late-0001"},
    )
    assert resp.status == 201
    day = await statement(bank, token, start="2026-11-18", end="2026-11-18")
    assert [t["description"] for t in day["items"]] == ["转账给李娜"]
    before = await statement(bank, token, start="2026-11-17", end="2026-11-17", limit=100)
    assert all(t["posted_at"].startswith("2026-11-17") for t in before["items"])
    assert "转账给李娜" not in {t["description"] for t in before["items"]}


async def test_empty_statement_and_bad_filters(bank, error):
    token = await bank.token()
    empty = await statement(bank, token, account_last4="5678")
    assert empty == {
        "items": [],
        "summary": {
            "count": 0,
            "spending_total": "0.00",
            "income_total": "0.00",
            "net": "0.00",
            "has_more": False,
            "start": None,
            "end": None,
            "kind": None,
            "merchant": None,
            "account_last4": "5678",
        },
    }
    resp = await bank.client.get("/transactions", params={"kind": "花销"}, headers=bank.auth(token))
    assert resp.status == 400
    assert "支出" in (await error(resp))["details"]["allowed"]


def test_design_history_is_kept_with_its_ids():
    entries = {txn_id: (posted, txn) for txn_id, posted, txn in zhang_history(TEST_START)}
    for index, txn in enumerate(ZHANG_TRANSACTIONS, 1):
        posted, kept = entries[f"TX1234{index:04d}"]
        assert kept == txn
        assert (TEST_START.date() - posted.date()).days == txn.days_ago


@pytest.mark.parametrize("year", [2026, 2027, 2028])
def test_every_seeding_day_gives_last_month_meituan_eleme_and_salary(year):
    day = datetime(year, 1, 1, 10, 0, tzinfo=CST)
    while day.year == year:
        entries = zhang_history(day)
        first, last = previous_month(day.date())
        in_month = [t for _, posted, t in entries if first <= posted.date() <= last]
        assert any(t.description == "工资" and t.kind == "收入" for t in in_month), day
        assert any(t.merchant == "美团" for t in in_month), day
        assert any(t.merchant == "饿了么" for t in in_month), day
        # every seeded transaction lies within the 60 days before seeding
        assert all(
            timedelta(0) < day - posted <= timedelta(days=60) for _, posted, _ in entries
        ), day
        if day.day >= 5:  # the current month has both delivery apps from the 5th on
            this_month = {t.merchant for _, p, t in entries if p.date() >= date(year, day.month, 1)}
            assert {"美团", "饿了么"} <= this_month, day
        day += timedelta(days=1)


def test_a_month_between_paydays_gets_a_salary_on_the_15th():
    entries = zhang_history(datetime(2027, 3, 30, 10, 0, tzinfo=CST))
    added = [(txn_id, posted.date()) for txn_id, posted, _ in entries if "F" in txn_id]
    assert added == [("TX1234F001", date(2027, 2, 15))]
