"""Branches, products, FX, support clients and the factory."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.services.accounts import AccountsClient
from bot.services.branches import BranchesClient
from bot.services.errors import BadRequest, NotFound, ServiceUnavailable
from bot.services.factory import ServiceFactory
from bot.services.products import ProductsClient
from bot.services.support import SupportClient
from bot.services.types import Branch, BranchQueue, FxRate, Product, SupportTicket


async def test_branches(services):
    branches = services.branches
    found = await branches.list_branches(q="人广")
    assert [b.name for b in found] == ["人民广场支行"]
    branch = found[0]
    assert isinstance(branch, Branch) and branch.open_now is True
    assert branch.weekday_hours == "09:00-17:00"
    personal = branch.queue("个人业务")
    assert isinstance(personal, BranchQueue) and personal.estimated_wait_minutes == 48
    near = await branches.list_branches(lat=31.2397, lng=121.4998)
    assert near[0].name == "陆家嘴支行" and near[0].distance_km is not None
    assert [b.name for b in await branches.list_branches(area="杨浦")] == ["五角场支行"]
    detail = await branches.get_branch("SH004")
    assert detail.weekend_hours is None and "静安寺" in detail.aliases
    queues = await branches.branch_queues("SH004")
    assert {q.service_type for q in queues} == {"个人业务", "对公业务", "外汇", "贵宾"}
    with pytest.raises(NotFound):
        await branches.get_branch("SH999")
    with pytest.raises(BadRequest):
        await branches.list_branches(lat=31.2)


async def test_products_and_fx(services):
    products = services.products
    c3 = await products.list_products(max_risk="C3")
    assert c3 and all(isinstance(p, Product) for p in c3)
    assert all(p.risk_level in ("R1", "R2", "R3") for p in c3)
    funds = await products.list_products(type="基金")
    assert {p.risk_level for p in funds} == {"R4", "R5"}
    assert all(p.disclosure and "投资须谨慎" in p.disclosure for p in funds)
    cd = await products.get_product("CD3Y")
    assert cd.min_amount == Decimal("200000.00") and cd.reference_rate == Decimal("1.55")
    with pytest.raises(NotFound):
        await products.get_product("NOPE")
    with pytest.raises(BadRequest):
        await products.list_products(type="股票")
    rates = await products.fx_rates()
    assert [r.currency for r in rates] == ["USD", "EUR", "HKD", "JPY", "GBP"]
    assert isinstance(rates[0], FxRate) and rates[0].unit == 100
    assert rates[0].sell > rates[0].buy


async def test_support_tickets(services, clock):
    support = services.support
    ticket = await support.create_ticket(
        "complaint", "wechat", "o-zhang", category="收费", text="乱收费", summary="投诉年费"
    )
    assert isinstance(ticket, SupportTicket)
    assert ticket.ticket_id == "C20261118-0001"
    assert ticket.reply_due == date(2026, 11, 20)
    assert ticket.summary == "投诉年费"
    handoff = await support.create_ticket("handoff", "wechat", "o-zhang")
    assert handoff.ticket_id.startswith("H20261118-") and handoff.reply_due is None
    listed = await support.list_tickets("o-zhang", channel="wechat")
    assert [t.ticket_id for t in listed] == [handoff.ticket_id, ticket.ticket_id]
    with pytest.raises(BadRequest):
        await support.create_ticket("praise", "wechat", "o-zhang")


async def test_factory_builds_lazily_and_closes(settings):
    factory = ServiceFactory(settings)
    assert factory._built() == []
    assert isinstance(factory.accounts, AccountsClient)
    assert factory.accounts is factory.accounts
    assert isinstance(factory.branches, BranchesClient)
    assert isinstance(factory.products, ProductsClient)
    assert isinstance(factory.support, SupportClient)
    assert factory.accounts.base_url == settings.bank_url
    await factory.branches.list_branches()
    clients = factory._built()
    assert len(clients) == 4
    await factory.aclose()
    assert all(c.closed for c in clients)
    assert factory._built() == []
    async with ServiceFactory(settings) as again:
        assert (await again.products.fx_rates())[0].currency == "USD"


async def test_factory_reports_an_unreachable_bank(settings, replace_settings):
    unreachable = replace_settings(settings, bank_url="http://127.0.0.1:9", service_timeout=1.0)
    async with ServiceFactory(unreachable) as factory:
        with pytest.raises(ServiceUnavailable):
            await factory.branches.list_branches()
