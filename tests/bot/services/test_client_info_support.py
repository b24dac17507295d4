"""The new client methods against the real sandbox bank: clock, statements, new payees,
FX both ways, contacts, mortgage rates, tickets, sandbox reset."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from bot.bank.clock import CST
from bot.services.errors import (
    BadRequest,
    IdempotencyConflict,
    InvalidTicketTransition,
    NotFound,
    SupportTicketNotFound,
    TicketClosed,
    VerificationRequired,
)
from bot.services.types import BankContact, MortgageRates, Statement, SupportTicket


async def test_bank_now_is_the_bank_clock(accounts, clock):
    assert await accounts.bank_now() == datetime(2026, 11, 18, 10, 0, tzinfo=CST)
    clock.set(datetime(2026, 12, 1, 0, 5, tzinfo=CST))
    now = await accounts.bank_now()
    assert now.utcoffset().total_seconds() == 8 * 3600 and now.date() == date(2026, 12, 1)


async def test_statement_with_totals(accounts, bind):
    session = await bind()
    statement = await accounts.statement(
        session.token, start=date(2026, 10, 1), end=date(2026, 10, 31), limit=5
    )
    assert isinstance(statement, Statement) and len(statement.items) == 5
    summary = statement.summary
    assert (summary.count, summary.has_more) == (23, True)
    assert (summary.spending_total, summary.income_total, summary.net) == (
        Decimal("11541.20"),
        Decimal("19000.00"),
        Decimal("7458.80"),
    )
    assert (summary.start, summary.end) == (date(2026, 10, 1), date(2026, 10, 31))
    eleme = await accounts.statement(
        session.token, merchant="饿了么", start=date(2026, 10, 1), end=date(2026, 10, 31)
    )
    assert eleme.summary.count == 5 and eleme.summary.spending_total == Decimal("209.20")
    income = await accounts.list_transactions(session.token, kind="收入", limit=100)
    assert income and all(t.amount > 0 for t in income)


async def test_new_payee_quote_and_name_mismatch(accounts, bind):
    session = await bind()
    quote = await accounts.quote_transfer(
        session.token,
        payee="6228480012345670001",
        payee_name="赵六",
        amount=Decimal("12000"),
        channel="web",
    )
    assert (quote.payee_name, quote.new_payee, quote.review) == ("赵六", True, True)
    assert (quote.review_threshold, quote.payee_bank) == (Decimal("10000.00"), "他行")
    with pytest.raises(BadRequest) as refused:
        await accounts.quote_transfer(
            session.token,
            payee="6216610200000898888",
            payee_name="王五",
            amount=Decimal("10"),
            channel="web",
        )
    assert refused.value.reason == "name_mismatch"
    done = await accounts.create_transfer(
        session.token,
        payee="6228480012345670001",
        payee_name="赵六",
        amount=Decimal("100"),
        channel="web",
        idempotency_key="client-new-payee-1",
    )
    assert (done.status, done.payee_name) == ("completed", "赵六")
    with pytest.raises(IdempotencyConflict):
        await accounts.create_transfer(
            session.token,
            payee="6228480012345670001",
            payee_name="赵七",
            amount=Decimal("100"),
            channel="web",
            idempotency_key="client-new-payee-1",
        )


async def test_fx_both_phrasings_and_cash(services):
    products = services.products
    buy_eur = await products.convert_fx(Decimal("5000"), "CNY", "EUR", amount_currency="to")
    assert (buy_eur.from_amount, buy_eur.to_amount) == (Decimal("41595.00"), Decimal("5000.00"))
    assert (buy_eur.direction, buy_eur.direction_label, buy_eur.rate_label) == (
        "buy_foreign",
        "购汇（银行卖出）",
        "现汇卖出价",
    )
    cash_usd = await products.convert_fx(Decimal("1000"), "CNY", "美元", amount_currency="to",
                                         cash=True)
    assert (cash_usd.from_amount, cash_usd.rate_label, cash_usd.cash) == (
        Decimal("7142.00"),
        "现钞卖出价",
        True,
    )
    sell_cash = await products.convert_fx(Decimal("500"), "USD", cash=True)
    assert (sell_cash.to_amount, sell_cash.rate, sell_cash.direction) == (
        Decimal("3527.00"),
        Decimal("705.40"),
        "sell_foreign",
    )
    rates = await products.fx_rates()
    assert all(r.cash_sell == r.sell for r in rates)


async def test_mortgage_rates(services):
    rates = await services.products.mortgage_rates()
    assert isinstance(rates, MortgageRates)
    assert (rates.lpr_5y, rates.as_of) == (Decimal("3.50"), date(2026, 10, 20))
    first = rates.rate("commercial_first")
    assert first is not None and (first.rate, first.spread_bp) == (Decimal("3.05"), -45)
    assert rates.rate("fund_first_le5y").rate == Decimal("2.10")
    assert rates.rate("fund_first_gt5y").rate == Decimal("2.60")
    assert {p.loan_type for p in rates.prepayment} == {"commercial", "provident_fund"}
    assert rates.rate("nope") is None


async def test_contacts(services, clock):
    support = services.support
    contacts = await support.contacts()
    assert all(isinstance(c, BankContact) for c in contacts)
    assert [c.code for c in contacts][:4] == ["customer_service", "credit_card", "card_loss",
                                              "online_staff"]
    press = await support.contact("press_office")
    assert press.email and press.days == "workdays"
    clock.set(datetime(2026, 11, 18, 23, 0, tzinfo=CST))
    online = await support.contact("online_staff")
    assert (online.open_now, online.next_open) == (
        False,
        datetime(2026, 11, 19, 8, 0, tzinfo=CST),
    )
    with pytest.raises(NotFound):
        await support.contact("nope")


async def test_tickets_handoff_status_details_and_disputes(services, bind):
    support = services.support
    first = await support.create_ticket("handoff", "wechat", "o-zhang", text="转人工")
    assert isinstance(first, SupportTicket)
    assert (first.existing, first.priority, first.position, first.within_hours) == (
        False,
        "normal",
        0,
        True,
    )
    assert (first.hours, first.expected_wait_minutes) == ("每天 8:00-22:00", 2)
    again = await support.create_ticket("handoff", "wechat", "o-zhang", reason="fraud")
    assert (again.ticket_id, again.existing, again.priority, again.reason) == (
        first.ticket_id,
        True,
        "urgent",
        "fraud",
    )
    taken = await support.update_ticket_status(first.ticket_id, "in_progress")
    assert taken.status == "in_progress" and taken.taken_at is not None
    with pytest.raises(InvalidTicketTransition) as refused:
        await support.update_ticket_status(first.ticket_id, "in_progress")
    assert refused.value.details["status"] == "in_progress"
    with pytest.raises(SupportTicketNotFound):
        await support.update_ticket_status("H20261118-0999", "closed")

    complaint = await support.create_ticket("complaint", "wechat", "o-zhang", text="我要投诉")
    assert complaint.category == "其他" and complaint.reply_due == date(2026, 11, 20)
    added = await support.add_ticket_details(
        complaint.ticket_id, "wechat", "o-zhang", "手续费扣了两次"
    )
    assert (added.category, added.details_count) == ("收费问题", 1)
    await support.update_ticket_status(complaint.ticket_id, "closed")
    with pytest.raises(TicketClosed):
        await support.add_ticket_details(complaint.ticket_id, "wechat", "o-zhang", "还有")

    with pytest.raises(VerificationRequired):
        await support.create_ticket("dispute", "wechat", "o-zhang", transaction_ids=["TX12340002"])
    session = await bind()
    own = (await services.accounts.list_transactions(session.token, merchant="美团", limit=1))[0]
    dispute = await support.create_ticket(
        "dispute", "wechat", "o-zhang", text="这笔不是我消费的", transaction_ids=[own.transaction_id]
    )
    assert (dispute.kind, dispute.category, dispute.transaction_ids) == (
        "dispute",
        "交易异议",
        (own.transaction_id,),
    )
    listed = await support.list_tickets("o-zhang", kind="complaint")
    assert [(t.ticket_id, t.status, t.reply_due) for t in listed] == [
        (complaint.ticket_id, "closed", date(2026, 11, 20))
    ]


async def test_sandbox_reset(accounts, bind):
    session = await bind()
    await accounts.freeze_card(session.token, "1234")
    result = await accounts.sandbox_reset()
    assert result["reset"] is True
    with pytest.raises(VerificationRequired):
        await accounts.list_cards(session.token)
    session = await bind()
    assert {c.last4: c.state for c in await accounts.list_cards(session.token)}["1234"] == "active"
