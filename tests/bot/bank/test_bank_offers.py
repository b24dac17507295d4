"""Next-best offer (compliant marketing): who is eligible, which product, declining."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete, inspect, text

from bot.bank.app import create_app
from bot.bank.db import make_engine, make_sessionmaker
from bot.bank.models import Customer, OfferDecline, RiskAssessment
from bot.bank.seed import ZHANG_SAVINGS_NUMBER, ZHANG_WEI
from bot.bank.testing import LI_PHONE, make_settings, sqlite_url
from bot.settings import Settings
from tests.bot.bank.conftest import Bank

DISCLOSURE = "理财非存款，产品有风险，投资须谨慎"
INVESTMENT = ("wealth", "fund")


def assert_compliant(offer: dict, max_level: int | None) -> None:
    """A deposit or an R1/R2 wealth product within the level, disclosed iff investment."""
    product = offer["product"]
    if product["type"] == "deposit":
        assert product["category"] in ("定期存款", "大额存单")
    else:
        assert product["type"] == "wealth" and product["risk_level"] in ("R1", "R2")
        assert max_level is not None and int(product["risk_level"][1]) <= max_level
    investing = product["type"] in INVESTMENT
    assert offer["disclosure"] == (DISCLOSURE if investing else None)
    assert product["disclosure"] == offer["disclosure"]
    assert offer["reason"] in ("balance", "incoming")
    assert offer["offer_id"].startswith("OF")


async def next_offer(bank, token: str, **params) -> dict | None:
    return (await bank.get("/offers/next", token, **params))["offer"]


async def decline(bank, token: str, body: dict | None = None):
    return await bank.client.post(
        "/offers/decline", json={} if body is None else body, headers=bank.auth(token)
    )


def _edit(db_path, work) -> None:
    engine = make_engine(sqlite_url(db_path))
    try:
        with make_sessionmaker(engine)() as session:
            work(session)
            session.commit()
    finally:
        engine.dispose()


def _forget_assessment(session) -> None:
    session.get(Customer, ZHANG_WEI).risk_level = None
    session.execute(delete(RiskAssessment).where(RiskAssessment.customer_id == ZHANG_WEI))


@pytest.fixture
def bank_with(aiohttp_client, db_path, clock):
    """``await bank_with(**settings)``: the real app on the same database, other settings."""

    async def build(**overrides) -> Bank:
        app = create_app(make_settings(db_path, **overrides), clock=clock)
        return Bank(await aiohttp_client(app), clock)

    return build


def test_settings_read_the_offer_thresholds():
    assert Settings().offer_balance_threshold == Decimal("50000")
    assert Settings().offer_incoming_threshold == Decimal("10000")
    env = Settings.from_env(
        {"OFFER_BALANCE_THRESHOLD": "80000", "OFFER_INCOMING_THRESHOLD": "5000"}
    )
    assert env.offer_balance_threshold == Decimal("80000")
    assert env.offer_incoming_threshold == Decimal("5000")
    defaults = Settings.from_env({})
    assert (defaults.offer_balance_threshold, defaults.offer_incoming_threshold) == (
        Decimal("50000"),
        Decimal("10000"),
    )


async def test_zhang_wei_gets_the_best_suitable_low_risk_offer(bank, error):
    token = await bank.token()
    offer = await next_offer(bank, token, context="balance")
    assert offer is not None
    assert_compliant(offer, max_level=3)  # 张伟 is C3, but offers stop at R2
    assert offer["reason"] == "balance"  # 52,380.15 >= 50,000; no large payment this week
    assert (offer["product"]["code"], offer["product"]["name"]) == ("WM-R2-180", "沪银稳盈180天")
    assert offer["product"] == await bank.get("/products/WM-R2-180", token)
    assert offer["disclosure"] == DISCLOSURE
    # the context defaults to balance; the id is stable within the day
    assert await next_offer(bank, token) == offer
    # transactions prefers an incoming payment, but there is none: still the balance
    assert (await next_offer(bank, token, context="transactions"))["reason"] == "balance"


async def test_offer_input_errors_and_authentication(bank, error):
    resp = await bank.client.get("/offers/next")
    assert resp.status == 401
    assert (await error(resp))["details"]["level"] == "bind"
    assert (await bank.client.post("/offers/decline", json={})).status == 401
    token = await bank.token()
    for params, field in (({"context": "weather"}, "context"), ({"context": ""}, None)):
        resp = await bank.client.get("/offers/next", params=params, headers=bank.auth(token))
        if field is None:  # empty means the default
            assert resp.status == 200
            continue
        assert resp.status == 400
        assert (await error(resp))["details"]["field"] == field
    resp = await bank.client.get("/offers/next", params={"x": "1"}, headers=bank.auth(token))
    assert resp.status == 400
    for body in ({"offer_id": 5}, {"offer_id": "bad id!"}, {"offer_id": "O" * 65}):
        resp = await decline(bank, token, body)
        assert resp.status == 400, body
        assert (await error(resp))["details"]["field"] == "offer_id"
    resp = await decline(bank, token, {"reason": "no"})
    assert resp.status == 400 and (await error(resp))["details"]["fields"] == ["reason"]
    for raw in (b"null", b"[]", b"{", b"\xff"):
        resp = await bank.client.post("/offers/decline", data=raw, headers=bank.auth(token))
        assert resp.status == 400, raw
        await error(resp)
    # nothing above declined anything
    assert await next_offer(bank, token) is not None


async def test_a_decline_holds_across_sessions_and_channels(bank, clock):
    token = await bank.token()
    offer = await next_offer(bank, token)
    assert offer is not None
    resp = await decline(bank, token, {"offer_id": offer["offer_id"]})
    assert resp.status == 200
    first = await resp.json()
    assert first == {"declined": True, "declined_at": "2026-11-18T10:00:00+08:00"}
    assert await next_offer(bank, token) is None
    clock.advance(minutes=5)
    again = await decline(bank, token)  # idempotent, keeps the first time
    assert again.status == 200 and await again.json() == first
    empty = await bank.client.post("/offers/decline", headers=bank.auth(token))  # no body
    assert empty.status == 200
    # a new session on another channel, days later: still nothing for 张伟
    clock.advance(days=3)
    web = await bank.token(channel="web", user="w-zhang")
    assert web != token
    assert await next_offer(bank, web) is None
    assert await next_offer(bank, web, context="transactions") is None
    # the decline is 张伟's only: 李娜 still gets an offer
    li = await bank.token(LI_PHONE, user="o-lina")
    assert (await next_offer(bank, li)) is not None


async def test_below_both_thresholds_gets_nothing(bank):
    token = await bank.token()
    resp = await bank.client.post(
        "/transfers",
        headers=bank.auth(token),
        json={"payee": "李娜", "amount": "5000", "channel": "web", "idempotency_key": "offer-0001"},
    )
    assert resp.status == 201, await resp.text()
    assert await bank.balance(token) == "47380.15"  # below 50,000, no payment in
    assert await next_offer(bank, token) is None
    assert await next_offer(bank, token, context="transactions") is None


async def test_thresholds_come_from_the_settings(bank_with):
    strict = await bank_with(offer_balance_threshold=Decimal("52380.16"))
    token = await strict.token()
    assert await next_offer(strict, token) is None
    exact = await bank_with(offer_balance_threshold=Decimal("52380.15"))
    token = await exact.token(user="o-zhang-2")
    assert (await next_offer(exact, token))["reason"] == "balance"


async def test_a_large_payment_in_this_week_makes_an_offer(bank_with, clock):
    # 张伟's balance alone is not enough here; a payment of >= 1000 within 7 days is
    bank = await bank_with(
        offer_balance_threshold=Decimal("1000000"), offer_incoming_threshold=Decimal("1000")
    )
    zhang = await bank.token()
    assert await next_offer(bank, zhang) is None  # the salary came 29 days ago
    li = await bank.token(LI_PHONE, user="o-lina")
    resp = await bank.client.post(
        "/transfers",
        headers=bank.auth(li),
        json={
            "payee": ZHANG_SAVINGS_NUMBER,
            "amount": "1000",
            "channel": "web",
            "idempotency_key": "offer-in-0001",
        },
    )
    assert resp.status == 201 and (await resp.json())["status"] == "completed"
    offer = await next_offer(bank, zhang)
    assert offer is not None and offer["reason"] == "incoming"
    assert_compliant(offer, max_level=3)
    assert offer["product"]["code"] == "WM-R2-180"  # 53,380.15 reaches its 10,000
    clock.advance(days=7, minutes=1)  # the payment is older than 7 days now
    zhang = await bank.token(user="o-zhang-2")
    assert await next_offer(bank, zhang) is None


async def test_outgoing_or_small_payments_do_not_count(bank_with):
    bank = await bank_with(
        offer_balance_threshold=Decimal("1000000"), offer_incoming_threshold=Decimal("1000")
    )
    zhang = await bank.token()
    resp = await bank.client.post(
        "/transfers",
        headers=bank.auth(zhang),
        json={"payee": "李娜", "amount": "2000", "channel": "web", "idempotency_key": "offer-o1"},
    )
    assert resp.status == 201  # 张伟 -2000 转账: money out is no reason
    li = await bank.token(LI_PHONE, user="o-lina")
    resp = await bank.client.post(
        "/transfers",
        headers=bank.auth(li),
        json={
            "payee": ZHANG_SAVINGS_NUMBER,
            "amount": "999.99",
            "channel": "web",
            "idempotency_key": "offer-s1",
        },
    )
    assert resp.status == 201
    assert await next_offer(bank, zhang) is None


async def test_the_product_must_fit_the_balance(bank_with):
    bank = await bank_with(offer_balance_threshold=Decimal("1000"))
    token = await bank.token()
    resp = await bank.client.post(
        "/transfers",
        headers=bank.auth(token),
        json={"payee": "李娜", "amount": "45000", "channel": "web", "idempotency_key": "offer-b1"},
    )
    assert resp.status == 201
    assert await bank.balance(token) == "7380.15"  # below WM-R2-180's 10,000
    offer = await next_offer(bank, token)
    assert offer["product"]["code"] == "WM-R1-CASH"
    assert_compliant(offer, max_level=3)


async def test_unassessed_or_expired_customers_get_only_deposits(bank, clock, db_path):
    token = await bank.token()
    _edit(db_path, _forget_assessment)
    offer = await next_offer(bank, token)
    assert offer is not None and offer["product"]["type"] == "deposit"
    assert offer["product"]["code"] == "DEP3Y"  # 1.25%; CD3Y needs 200,000
    assert offer["disclosure"] is None and offer["product"]["disclosure"] is None
    assert_compliant(offer, max_level=None)

    # 李娜 (C5, 1.28 million) once her assessment has expired: deposits only, CD3Y fits
    clock.advance(days=300)  # the seeded assessments are 100 days old: now 400
    li = await bank.token(LI_PHONE, user="o-lina")
    offer = await next_offer(bank, li)
    assert offer["product"]["code"] == "CD3Y" and offer["disclosure"] is None
    assert_compliant(offer, max_level=None)


@pytest.mark.parametrize(
    ("answers", "level", "code"),
    [
        # q5 = A caps the level at C1: R1 wealth at most
        ({"q1": "B", "q2": "E", "q3": "E", "q4": "D", "q5": "A", "q6": "D"}, "C1", "WM-R1-CASH"),
        ({"q1": "A", "q2": "A", "q3": "B", "q4": "B", "q5": "B", "q6": "A"}, "C2", "WM-R2-180"),
        ({"q1": "B", "q2": "E", "q3": "E", "q4": "D", "q5": "E", "q6": "D"}, "C5", "WM-R2-180"),
    ],
)
async def test_offers_never_exceed_the_level(bank, answers, level, code):
    token = await bank.token()
    resp = await bank.client.post(
        "/risk-assessment", json={"answers": answers}, headers=bank.auth(token)
    )
    assert (await resp.json())["risk_level"] == level
    offer = await next_offer(bank, token)
    assert offer["product"]["code"] == code
    assert_compliant(offer, max_level=int(level[1]))


async def test_a_database_from_before_offers_is_upgraded(db_path, bank_with):
    engine = make_engine(sqlite_url(db_path))
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE offer_declines"))
        assert "offer_declines" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    bank = await bank_with()
    token = await bank.token()
    assert (await decline(bank, token)).status == 200
    assert await next_offer(bank, token) is None
    engine = make_engine(sqlite_url(db_path))
    try:
        with make_sessionmaker(engine)() as session:
            row = session.get(OfferDecline, ZHANG_WEI)
            assert row is not None and row.declined_at.tzinfo is not None
    finally:
        engine.dispose()
