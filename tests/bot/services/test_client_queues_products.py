"""Queue tickets, suitability, FX conversion, the customer profile and complaint
categories through the typed clients, against the real sandbox bank."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from bot.bank.clock import CST
from bot.bank.testing import TEST_START
from bot.services.errors import (
    ERRORS_BY_CODE,
    ActiveTicketExists,
    BadRequest,
    BelowMinimum,
    BranchClosed,
    Forbidden,
    NotFound,
    ProductNotSuitable,
    RiskAssessmentRequired,
    ServiceNotOffered,
    TicketNotActive,
    TicketNotFound,
    VerificationRequired,
    VipOnly,
)
from bot.services.factory import ServiceFactory
from bot.services.http import error_from_response
from bot.services.types import (
    ComplaintCategory,
    CustomerProfile,
    FxConversion,
    ProductComparison,
    QueueAlternative,
    QueueStatus,
    QueueTicket,
    Recommendations,
    RelationshipManager,
    RiskAssessment,
    RiskQuestionnaire,
    Suitability,
)

DISCLOSURE = "理财非存款，产品有风险，投资须谨慎"


async def test_queue_status_with_divert_suggestion(services):
    queues = await services.branches.queue_status("SH001")
    personal = queues[0]
    assert isinstance(personal, QueueStatus)
    assert (personal.service_type, personal.waiting, personal.estimated_wait_minutes) == (
        "个人业务",
        18,
        48,
    )
    assert personal.open_now and personal.offered and personal.next_number == "A041"
    assert isinstance(personal.alternative, QueueAlternative)
    assert personal.alternative.name == "静安寺支行"
    assert personal.alternative.estimated_wait_minutes == 12
    quiet = await services.branches.queue_status("SH004")
    assert all(q.alternative is None for q in quiet)
    assert next(q for q in quiet if q.service_type == "外汇").offered is False
    # the existing record still parses the richer queue answer
    assert (await services.branches.branch_queues("SH001"))[0].waiting == 18


async def test_tickets_live_and_survive_a_new_client(services, settings, clock):
    branches = services.branches
    ticket = await branches.take_ticket("wechat", "o-zhang", "SH001", "个人业务")
    assert isinstance(ticket, QueueTicket)
    assert (ticket.number, ticket.people_ahead, ticket.estimated_wait_minutes) == ("A041", 18, 48)
    assert ticket.branch_name == "人民广场支行" and ticket.status == "waiting"
    assert ticket.alternative is not None and ticket.alternative.branch_id == "SH004"
    with pytest.raises(ActiveTicketExists) as held:
        await branches.take_ticket("wechat", "o-zhang", "SH001", "外汇")
    assert held.value.details["number"] == "A041"

    clock.advance(minutes=10)
    async with ServiceFactory(settings) as later:  # a later session, a new client
        (found,) = await later.branches.list_tickets("wechat", "o-zhang")
        assert found.ticket_id == ticket.ticket_id and found.people_ahead == 15
        with pytest.raises(TicketNotFound):
            await later.branches.cancel_ticket(ticket.ticket_id, "wechat", "o-someone")
        cancelled = await later.branches.cancel_ticket(ticket.ticket_id, "wechat", "o-zhang")
        assert cancelled.status == "cancelled" and cancelled.people_ahead is None
        assert cancelled.closed_at == TEST_START + timedelta(minutes=10)
        with pytest.raises(TicketNotActive) as twice:
            await later.branches.cancel_ticket(ticket.ticket_id, "wechat", "o-zhang")
        assert twice.value.details["status"] == "cancelled"
        assert await later.branches.list_tickets("wechat", "o-zhang") == []


async def test_ticket_refusals(services, bind, clock):
    branches = services.branches
    with pytest.raises(VerificationRequired):
        await branches.take_ticket("wechat", "o-zhang", "SH001", "贵宾")
    zhang = await bind()
    with pytest.raises(VipOnly):
        await branches.take_ticket("wechat", "o-zhang", "SH001", "贵宾", token=zhang.token)
    li = await bind("13900139000", user="o-lina")
    vip = await branches.take_ticket("wechat", "o-lina", "SH001", "贵宾", token=li.token)
    assert vip.number == "V004"
    with pytest.raises(ServiceNotOffered):
        await branches.take_ticket("wechat", "o-zhang", "SH004", "外汇")
    with pytest.raises(NotFound):
        await branches.take_ticket("wechat", "o-zhang", "SH999", "个人业务")
    with pytest.raises(BadRequest):
        await branches.take_ticket("wechat", "o-zhang", "SH001", "理财")
    clock.set(TEST_START.replace(hour=22))
    with pytest.raises(BranchClosed) as closed:
        await branches.take_ticket("wechat", "o-zhang", "SH001", "个人业务")
    assert closed.value.opens_at == datetime(2026, 11, 19, 9, 0, tzinfo=CST)
    status = (await branches.queue_status("SH001"))[0]
    assert status.open_now is False and status.opens_at == closed.value.opens_at


async def test_risk_assessment_and_suitability(services, bind, clock):
    products = services.products
    form = await products.risk_questionnaire()
    assert isinstance(form, RiskQuestionnaire) and len(form.questions) == 6
    assert [lv.label for lv in form.levels][2] == "平衡型"
    session = await bind()
    token = session.token

    picks = await products.recommendations(token, amount=Decimal("50000"), term_days=365)
    assert isinstance(picks, Recommendations) and picks.risk_level == "C3"
    assert [p.code for p in picks.products][:2] == ["WM-R3-365", "WM-R2-180"]
    assert picks.disclosure == DISCLOSURE and picks.amount == Decimal("50000.00")
    with pytest.raises(ProductNotSuitable) as refused:
        await products.check_suitability(token, "FD-R5-TECH")
    assert refused.value.details["customer_risk_level"] == "C3"
    with pytest.raises(BelowMinimum):
        await products.check_suitability(token, "CD3Y", Decimal("1000"))
    ok = await products.check_suitability(token, "WM-R3-365", Decimal("10000"))
    assert isinstance(ok, Suitability) and ok.suitable and ok.disclosure == DISCLOSURE

    answers = {"q1": "B", "q2": "E", "q3": "E", "q4": "D", "q5": "E", "q6": "D"}  # boldest
    result = await products.submit_risk_assessment(token, answers)
    assert isinstance(result, RiskAssessment)
    assert (result.risk_level, result.label, result.previous_level) == ("C5", "激进型", "C3")
    assert result.expires_at - result.assessed_at == timedelta(days=365)
    assert (await products.check_suitability(token, "FD-R5-TECH")).product_risk_level == "R5"
    with pytest.raises(BadRequest) as bad:
        await products.submit_risk_assessment(token, {"q1": "A"})
    assert bad.value.details["field"].startswith("answers.")

    clock.advance(days=366)
    fresh = await bind(user="o-zhang-2")
    with pytest.raises(RiskAssessmentRequired) as expired:
        await products.recommendations(fresh.token)
    assert expired.value.reason == "expired"


async def test_product_search_comparison_and_fx(services):
    products = services.products
    assert [p.code for p in await products.list_products(q="天天利")] == ["WM-R1-CASH"]
    short = await products.list_products(type="理财", term_days_max=200)
    assert [p.code for p in short] == ["WM-R1-CASH", "WM-R2-180"]
    assert [p.code for p in await products.list_products(risk="R4")] == ["FD-R4-MIX"]
    comparison = await products.compare_products(["WM-R2-180", "WM-R3-365"])
    assert isinstance(comparison, ProductComparison)
    assert "risk_level" in comparison.differences and comparison.disclosure == DISCLOSURE
    with pytest.raises(NotFound):
        await products.compare_products(["WM-R2-180", "NOPE"])

    to_cny = await products.convert_fx(Decimal("1000"), "USD")
    assert isinstance(to_cny, FxConversion)
    assert (to_cny.result, to_cny.rate_side, to_cny.rate_label) == (
        Decimal("7112.00"),
        "buy",
        "现汇买入价",
    )
    to_usd = await products.convert_fx(Decimal("10000"), "人民币", "美元")
    assert (to_usd.to_currency, to_usd.result, to_usd.rate) == (
        "USD",
        Decimal("1400.17"),
        Decimal("714.20"),
    )
    with pytest.raises(BadRequest):
        await products.convert_fx(Decimal("100"), "USD", "EUR")


async def test_profile_vip_manager_and_complaint_categories(services, bind):
    li = await bind("13900139000", user="o-lina")
    profile = await services.accounts.get_profile(li.token)
    assert isinstance(profile, CustomerProfile) and profile.vip
    assert isinstance(profile.manager, RelationshipManager)
    assert (profile.manager.name, profile.manager.masked_mobile) == ("王敏", "137****8021")
    assert profile.manager.phone == "021-50471234 转 8021"
    zhang = await bind()
    mine = await services.accounts.get_profile(zhang.token)
    assert (mine.vip, mine.manager, mine.risk_label) == (False, None, "平衡型")

    categories = await services.support.complaint_categories()
    assert all(isinstance(c, ComplaintCategory) for c in categories)
    assert "收费" in next(c for c in categories if c.category == "收费问题").keywords
    ticket = await services.support.create_ticket("complaint", "wechat", "o-zhang", category="排队")
    assert ticket.category == "排队等候"
    with pytest.raises(BadRequest) as bad:
        await services.support.create_ticket("complaint", "wechat", "o-zhang", category="天气")
    assert "其他" in bad.value.details["allowed"]


def test_new_error_codes_map_to_their_classes():
    for code in (
        "vip_only",
        "branch_closed",
        "service_not_offered",
        "ticket_not_found",
        "ticket_not_active",
        "active_ticket_exists",
        "risk_assessment_required",
        "product_not_suitable",
        "below_minimum",
    ):
        assert ERRORS_BY_CODE[code].code == code
    assert isinstance(error_from_response(403, None), Forbidden)
    closed = error_from_response(409, {"error": {"code": "branch_closed", "details": {}}})
    assert isinstance(closed, BranchClosed) and closed.opens_at is None
