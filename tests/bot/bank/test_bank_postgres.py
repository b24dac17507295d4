"""The same bank on PostgreSQL (skipped when no server answers).

Set BANKBOT_TEST_PG_URL to an admin URL (default: the local server, user postgres);
each test gets a fresh database that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.bank.db import make_engine
from bot.bank.seed import seed_database
from bot.bank.testing import LI_PHONE, TEST_START, make_settings

ADMIN_URL = os.environ.get(
    "BANKBOT_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def _admin_engine():
    try:
        import psycopg2  # noqa: F401
    except ImportError:  # pragma: no cover
        pytest.skip("psycopg2 is not installed")
    engine = create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2}, future=True
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "skip"
        engine.dispose()
        pytest.skip(f"no PostgreSQL server: {exc.__class__.__name__}")
    return engine


@pytest.fixture
def pg_url():
    admin = _admin_engine()
    name = f"bankbot_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        seed_database(engine, TEST_START)
    finally:
        engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(pg_url, tmp_path):
    """Overrides conftest's SQLite settings for this module."""
    return make_settings(tmp_path / "unused.db", bank_db_url=pg_url)


async def transfer(bank, token, key, amount, channel="web", payee="李娜"):
    return await bank.client.post(
        "/transfers",
        headers=bank.auth(token),
        json={"payee": payee, "amount": amount, "channel": channel, "idempotency_key": key},
    )


async def test_seed_and_exact_money_on_postgres(bank):
    token = await bank.token()
    assert await bank.balance(token) == "52380.15"
    bill = await bank.get("/credit-card/bill", token)
    assert (bill["statement_balance"], bill["minimum_payment"]) == ("3200.00", "320.00")
    assert len((await bank.get("/transactions", token, limit=100))["items"]) >= 30


async def test_concurrent_duplicates_and_limits_on_postgres(bank):
    token = await bank.token()
    responses = await asyncio.gather(
        *(transfer(bank, token, "pg-dup-key-0001", "700.01") for _ in range(6))
    )
    assert sorted(r.status for r in responses) == [200] * 5 + [201]
    assert await bank.balance(token) == "51680.14"
    responses = await asyncio.gather(
        *(transfer(bank, token, f"pg-daily-{i:04d}", "5000", "wechat") for i in range(6))
    )
    assert sorted(r.status for r in responses) == [201] * 4 + [422] * 2
    assert await bank.balance(token) == "31680.14"
    li = await bank.token(LI_PHONE, user="o-lina")
    assert await bank.balance(li, "8888") == "1300700.01"


async def test_otp_lock_and_cards_on_postgres(bank, settings):
    who = {"channel": "web", "channel_user_id": "pg-user"}
    resp = await bank.client.post("/auth/otp", json={**who, "phone": "13800138000"})
    assert resp.status == 202
    code = await bank.latest_code("13800138000")
    wrong = "000000" if code != "000000" else "111111"
    statuses = [
        (await bank.client.post("/auth/otp/verify", json={**who, "code": wrong})).status
        for _ in range(settings.otp_max_attempts)
    ]
    assert statuses == [400] * (settings.otp_max_attempts - 1) + [429]
    bank.clock.advance(settings.otp_resend_seconds)  # the phone's resend interval
    token = await bank.token(user="o-pg")
    resp = await bank.client.post("/cards/1234/report-lost", headers=bank.auth(token))
    assert (await resp.json())["state"] == "lost"
    resp = await bank.client.post("/cards/1234/unfreeze", headers=bank.auth(token))
    assert resp.status == 409


async def test_queue_tickets_under_concurrency_on_postgres(bank, clock):
    def body(user):
        return {
            "channel": "wechat",
            "channel_user_id": user,
            "branch_id": "SH001",
            "service_type": "个人业务",
        }

    same = await asyncio.gather(
        *(bank.client.post("/queue/tickets", json=body("o-same")) for _ in range(5))
    )
    assert sorted(r.status for r in same) == [201] + [409] * 4
    others = await asyncio.gather(
        *(bank.client.post("/queue/tickets", json=body(f"o-{i}")) for i in range(6))
    )
    issued = [await r.json() for r in others]
    assert all(r.status == 201 for r in others)
    assert sorted(t["number"] for t in issued) == [f"A{n:03d}" for n in range(42, 48)]
    assert sorted(t["people_ahead"] for t in issued) == list(range(19, 25))
    clock.advance(minutes=10)
    resp = await bank.client.get("/branches/SH001/queues")
    assert (await resp.json())[0]["waiting"] == 25


async def test_offers_and_concurrent_declines_on_postgres(bank):
    token = await bank.token()
    offer = (await bank.get("/offers/next", token))["offer"]
    assert offer["product"]["code"] == "WM-R2-180" and offer["reason"] == "balance"
    declines = await asyncio.gather(
        *(bank.client.post("/offers/decline", json={}, headers=bank.auth(token)) for _ in range(6))
    )
    assert [r.status for r in declines] == [200] * 6
    assert len({(await r.json())["declined_at"] for r in declines}) == 1
    assert await bank.get("/offers/next", token) == {"offer": None}


async def test_handoffs_statements_rates_and_reset_on_postgres(bank):
    who = {"kind": "handoff", "channel": "wechat", "channel_user_id": "o-pg"}
    responses = await asyncio.gather(
        *(bank.client.post("/support/tickets", json=who) for _ in range(5))
    )
    bodies = [await r.json() for r in responses]
    assert sorted(r.status for r in responses) == [200, 200, 200, 200, 201], bodies
    assert len({b["ticket_id"] for b in bodies}) == 1  # one hand-off per chat user
    token = await bank.token()
    october = await bank.get("/transactions", token, start="2026-10-01", end="2026-10-31")
    assert october["summary"]["spending_total"] == "11541.20"
    rates = await (await bank.client.get("/loans/mortgage-rates")).json()
    assert {r["rate"] for r in rates["provident_fund"]} >= {"2.10", "2.525"}
    resp = await bank.client.post(
        "/transfers/quote",
        headers=bank.auth(token),
        json={"payee": "6216610200000898888", "payee_name": "王五", "amount": "1",
              "channel": "web"},
    )
    assert resp.status == 400
    assert (await bank.client.post("/sandbox/reset")).status == 200
    assert (await bank.client.get("/accounts", headers=bank.auth(token))).status == 401
    token = await bank.token()
    assert await bank.balance(token) == "52380.15"
    tickets = await (
        await bank.client.get("/support/tickets", params={"channel_user_id": "o-pg"})
    ).json()
    assert tickets == []
