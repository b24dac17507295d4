"""Next-best offers and declining them through ProductsClient, against the real bank."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete

from bot.bank.db import make_engine, make_sessionmaker
from bot.bank.models import Customer, RiskAssessment
from bot.bank.seed import ZHANG_WEI
from bot.services.errors import BadRequest, VerificationRequired
from bot.services.factory import ServiceFactory
from bot.services.types import Offer, Product

DISCLOSURE = "理财非存款，产品有风险，投资须谨慎"


def assert_compliant(offer: Offer, max_level: int | None) -> None:
    product = offer.product
    assert isinstance(product, Product)
    if product.type == "deposit":
        assert product.category in ("定期存款", "大额存单")
    else:
        assert product.type == "wealth" and product.risk_level in ("R1", "R2")
        assert max_level is not None and int(str(product.risk_level)[1]) <= max_level
    assert offer.disclosure == (DISCLOSURE if product.type in ("wealth", "fund") else None)
    assert offer.reason in ("balance", "incoming")


async def test_zhang_wei_is_offered_a_low_risk_product(services, bind):
    session = await bind()
    offer = await services.products.next_offer(session.token)
    assert isinstance(offer, Offer)
    assert_compliant(offer, max_level=3)
    assert (offer.reason, offer.product.code, offer.product.name) == (
        "balance",
        "WM-R2-180",
        "沪银稳盈180天",
    )
    assert offer.product.min_amount == Decimal("10000.00")
    assert offer.product.reference_rate == Decimal("2.60")
    assert offer.disclosure == offer.product.disclosure == DISCLOSURE
    same = await services.products.next_offer(session.token, context="transactions")
    assert same == offer  # no large payment this week: the balance is the reason anyway
    assert offer.product == await services.products.get_product("WM-R2-180")


async def test_declining_holds_in_a_new_session(services, settings, bind, clock):
    session = await bind()
    offer = await services.products.next_offer(session.token)
    assert offer is not None
    assert await services.products.decline_offers(session.token, offer.offer_id) is None
    assert await services.products.next_offer(session.token) is None
    assert await services.products.decline_offers(session.token) is None  # idempotent

    clock.advance(days=1)
    async with ServiceFactory(settings) as later:  # a later session: new client, new token
        await later.accounts.request_otp("web", "w-zhang", "13800138000")
        code = (await later.accounts.sms_outbox("13800138000"))[0]["code"]
        fresh = await later.accounts.verify_otp("web", "w-zhang", code)
        assert fresh.token != session.token
        assert await later.products.next_offer(fresh.token) is None
        assert await later.products.next_offer(fresh.token, context="transactions") is None


async def test_below_both_thresholds_there_is_no_offer(services, bind):
    session = await bind()
    transfer = await services.accounts.create_transfer(
        session.token,
        payee="李娜",
        amount=Decimal("3000"),
        channel="web",
        idempotency_key="offer-client-0001",
    )
    assert transfer.balance_after == Decimal("49380.15")
    assert await services.products.next_offer(session.token) is None


async def test_an_unassessed_customer_gets_a_deposit(services, settings, bind):
    engine = make_engine(settings.bank_db_url)  # the bank server's database
    try:
        with make_sessionmaker(engine)() as db:
            db.get(Customer, ZHANG_WEI).risk_level = None
            db.execute(delete(RiskAssessment).where(RiskAssessment.customer_id == ZHANG_WEI))
            db.commit()
    finally:
        engine.dispose()
    session = await bind()
    offer = await services.products.next_offer(session.token)
    assert offer is not None and offer.product.type == "deposit"
    assert offer.product.code == "DEP3Y" and offer.disclosure is None
    assert_compliant(offer, max_level=None)


async def test_offer_errors(services, bind):
    with pytest.raises(VerificationRequired):
        await services.products.next_offer("not-a-token")
    with pytest.raises(VerificationRequired):
        await services.products.decline_offers("not-a-token")
    session = await bind()
    with pytest.raises(BadRequest) as bad:
        await services.products.next_offer(session.token, context="weather")
    assert bad.value.details["field"] == "context"
    with pytest.raises(BadRequest) as bad:
        await services.products.decline_offers(session.token, "not an id!")
    assert bad.value.details["field"] == "offer_id"
