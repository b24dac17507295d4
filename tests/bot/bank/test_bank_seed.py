"""The demo data of design.md section 7, and idempotent seeding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, inspect, select, text

from bot.bank.app import create_app
from bot.bank.clock import CST
from bot.bank.db import make_engine, make_sessionmaker
from bot.bank.models import Branch, Customer, FxRate, Product, Transaction
from bot.bank.seed import seed_database
from bot.bank.testing import TEST_START, make_settings, seed_file, sqlite_url


def _counts(db_path) -> dict[str, int]:
    engine = make_engine(sqlite_url(db_path))
    try:
        with make_sessionmaker(engine)() as session:
            return {
                model.__tablename__: session.execute(
                    select(func.count()).select_from(model)
                ).scalar_one()
                for model in (Customer, Transaction, Branch, Product, FxRate)
            }
    finally:
        engine.dispose()


async def test_zhang_wei_accounts_bill_and_payees(bank):
    session = await bank.bind()
    assert session["customer_name"] == "张伟"
    assert session["risk_level"] == "C3"
    assert session["vip"] is False
    accounts = await bank.get("/accounts", session["token"])
    by_last4 = {a["last4"]: a for a in accounts}
    assert by_last4["1234"]["account_type"] == "储蓄卡"
    assert by_last4["1234"]["balance"] == "52380.15"
    assert by_last4["1234"]["available"] == "52380.15"
    assert by_last4["5678"]["account_type"] == "信用卡"
    assert by_last4["5678"]["balance"] == "3200.00"
    assert by_last4["5678"]["available"] == "46800.00"

    bill = await bank.get("/credit-card/bill", session["token"])
    assert bill == {
        "card_last4": "5678",
        "credit_limit": "50000.00",
        "available_credit": "46800.00",
        "statement_balance": "3200.00",
        "minimum_payment": "320.00",
        "due_date": "2026-12-15",  # the next 15th on/after 2026-11-18
    }

    payees = await bank.get("/payees", session["token"])
    assert [(p["name"], p["account_type"], p["last4"]) for p in payees] == [
        ("李娜", "储蓄卡", "8888"),
        ("王芳", "储蓄卡", "6666"),
    ]
    assert all(len(p["last4"]) == 4 for p in payees)


async def test_due_date_is_the_15th_on_or_after_today(bank, clock):
    token = await bank.token()
    clock.set(TEST_START.replace(month=12, day=15, hour=9))
    assert (await bank.get("/credit-card/bill", token))["due_date"] == "2026-12-15"
    clock.advance(days=1)
    assert (await bank.get("/credit-card/bill", token))["due_date"] == "2027-01-15"


async def test_li_na_is_a_vip_with_a_large_balance(bank):
    session = await bank.bind("13900139000", user="o-lina")
    assert (session["customer_name"], session["vip"], session["risk_level"]) == ("李娜", True, "C5")
    assert await bank.balance(session["token"], "8888") == "1280000.00"


async def test_history_is_consistent_with_the_balance(bank):
    token = await bank.token()
    txns = (await bank.get("/transactions", token, account_last4="1234", limit=100))["items"]
    assert len(txns) >= 30
    assert txns[0]["balance_after"] == "52380.15"
    oldest = date.fromisoformat(txns[-1]["posted_at"][:10])
    assert TEST_START.date() - oldest <= timedelta(days=60)
    # newest first: each balance_after is the previous one plus the amount
    for newer, older in zip(txns, txns[1:], strict=False):
        assert Decimal(newer["balance_after"]) == Decimal(older["balance_after"]) + Decimal(
            newer["amount"]
        )
    kinds = {t["kind"] for t in txns}
    assert kinds == {"消费", "收入", "转账", "缴费"}
    merchants = {t["merchant"] for t in txns}
    assert {"美团", "京东"} <= merchants
    assert any(t["description"] == "工资" for t in txns)
    assert any("水费" in t["description"] or "电费" in t["description"] for t in txns)


async def test_reference_data(bank):
    branches = await (await bank.client.get("/branches")).json()
    assert {b["name"] for b in branches} == {
        "人民广场支行",
        "陆家嘴支行",
        "徐家汇支行",
        "静安寺支行",
        "五角场支行",
    }
    for branch in branches:
        assert branch["city"] == "上海"
        assert 30.9 < branch["lat"] < 31.5 and 121.2 < branch["lng"] < 121.8
        assert branch["hours"]["weekday"]
        assert {q["service_type"] for q in branch["queues"]} == {
            "个人业务",
            "对公业务",
            "外汇",
            "贵宾",
        }
    products = await (await bank.client.get("/products")).json()
    assert len(products) >= 8
    assert {p["type"] for p in products} == {"deposit", "wealth", "fund", "loan", "credit_card"}
    assert {"定期存款", "大额存单"} <= {p["category"] for p in products}
    assert {"R1", "R2", "R3", "R4", "R5"} <= {p["risk_level"] for p in products}
    rates = await (await bank.client.get("/fx-rates")).json()
    assert [r["currency"] for r in rates] == ["USD", "EUR", "HKD", "JPY", "GBP"]
    assert all(r["unit"] == 100 and Decimal(r["sell"]) > Decimal(r["buy"]) for r in rates)


def test_seeding_is_idempotent_and_reset_recreates(db_path):
    before = _counts(db_path)
    assert before["customers"] == 2
    engine = make_engine(sqlite_url(db_path))
    try:
        result = seed_database(engine, TEST_START + timedelta(days=3))
        assert result["customers_created"] is False
        assert _counts(db_path) == before
        # a change is wiped by --reset
        with make_sessionmaker(engine)() as session:
            session.get(Customer, "C100001").name = "改名"
            session.commit()
        seed_database(engine, TEST_START, reset=True)
        with make_sessionmaker(engine)() as session:
            assert session.get(Customer, "C100001").name == "张伟"
        assert _counts(db_path) == before
    finally:
        engine.dispose()


def test_seed_uses_the_given_time(db_path):
    engine = make_engine(sqlite_url(db_path))
    try:
        with make_sessionmaker(engine)() as session:
            newest = session.execute(select(func.max(Transaction.posted_at))).scalar_one()
        assert newest.tzinfo is not None
        assert newest < TEST_START and newest.astimezone(CST).date() >= date(2026, 11, 17)
    finally:
        engine.dispose()


LEGACY_QUEUES = """
CREATE TABLE branch_queues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch_id VARCHAR(16) NOT NULL REFERENCES branches (id),
    position INTEGER NOT NULL,
    service_type VARCHAR(16) NOT NULL,
    waiting INTEGER NOT NULL,
    counters_open INTEGER NOT NULL,
    avg_service_minutes INTEGER NOT NULL,
    updated_at DATETIME NOT NULL,
    UNIQUE (branch_id, service_type)
)
"""


async def test_a_database_from_before_live_queues_is_upgraded(tmp_path, aiohttp_client, clock):
    db_path = tmp_path / "legacy.db"
    seed_file(db_path)
    engine = make_engine(sqlite_url(db_path))
    try:
        with engine.begin() as conn:  # the tables as the first version created them
            conn.execute(text("DROP TABLE queue_tickets"))
            conn.execute(text("DROP TABLE branch_queues"))
            conn.execute(text(LEGACY_QUEUES))
            conn.execute(
                text(
                    "INSERT INTO branch_queues (branch_id, position, service_type, waiting,"
                    " counters_open, avg_service_minutes, updated_at)"
                    " VALUES ('SH001', 0, '个人业务', 18, 3, 8, '2026-11-18 09:00:00')"
                )
            )
        result = seed_database(engine, TEST_START)
        assert result["customers_created"] is False
        columns = {c["name"] for c in inspect(engine).get_columns("branch_queues")}
        assert {"next_number", "last_advanced_at", "opening_waiting"} <= columns
    finally:
        engine.dispose()
    client = await aiohttp_client(create_app(make_settings(db_path), clock=clock))
    queues = await (await client.get("/branches/SH001/queues")).json()
    assert (queues[0]["waiting"], queues[0]["next_number"]) == (18, "A041")
    resp = await client.post(
        "/queue/tickets",
        json={"channel": "web", "channel_user_id": "u1", "branch_id": "SH001",
              "service_type": "个人业务"},
    )
    assert resp.status == 201


async def test_reseeding_keeps_live_queues_and_tickets(bank, db_path, clock):
    resp = await bank.client.post(
        "/queue/tickets",
        json={"channel": "web", "channel_user_id": "u1", "branch_id": "SH001",
              "service_type": "个人业务"},
    )
    ticket = await resp.json()
    clock.advance(minutes=10)
    engine = make_engine(sqlite_url(db_path))
    try:
        seed_database(engine, clock())
    finally:
        engine.dispose()
    listed = await (
        await bank.client.get("/queue/tickets", params={"channel": "web", "channel_user_id": "u1"})
    ).json()
    assert [(t["ticket_id"], t["people_ahead"]) for t in listed] == [(ticket["ticket_id"], 15)]
