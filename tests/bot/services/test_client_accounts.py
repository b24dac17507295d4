"""AccountsClient against the real sandbox bank: typed records and typed errors."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal

import pytest

from bot.services.errors import (
    BadRequest,
    CardNotFound,
    CustomerNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidCardState,
    LimitExceeded,
    NotFound,
    OtpExpired,
    OtpInvalid,
    OtpLocked,
    OtpNotRequested,
    PayeeNotFound,
    VerificationRequired,
)
from bot.services.types import (
    Account,
    Binding,
    Card,
    CreditCardBill,
    OtpSent,
    Payee,
    Session,
    Transaction,
    Transfer,
    TransferQuote,
)


async def test_bind_and_read_accounts(accounts, bind):
    assert await accounts.get_binding("wechat", "o-zhang") is None
    sent = await accounts.request_otp("wechat", "o-zhang", "13800138000")
    assert sent == OtpSent(masked_phone="138****8000", expires_in=300, resend_after=60)
    outbox = await accounts.sms_outbox("13800138000")
    session = await accounts.verify_otp("wechat", "o-zhang", outbox[0]["code"])
    assert isinstance(session, Session)
    assert (session.customer_name, session.vip, session.risk_level) == ("张伟", False, "C3")
    assert isinstance(session.verified_at, datetime) and session.verified_at.tzinfo is not None
    assert (session.step_up_expires_at - session.verified_at).total_seconds() == 600

    assert await accounts.get_binding("wechat", "o-zhang") == Binding(
        customer_id="C100001", customer_name="张伟", masked_phone="138****8000", vip=False
    )
    listed = await accounts.list_accounts(session.token)
    assert all(isinstance(a, Account) for a in listed)
    savings = next(a for a in listed if a.last4 == "1234")
    assert savings.balance == Decimal("52380.15") and savings.account_type == "储蓄卡"
    bill = await accounts.credit_card_bill(session.token)
    assert bill == CreditCardBill(
        card_last4="5678",
        credit_limit=Decimal("50000.00"),
        available_credit=Decimal("46800.00"),
        statement_balance=Decimal("3200.00"),
        minimum_payment=Decimal("320.00"),
        due_date=date(2026, 12, 15),
    )
    payees = await accounts.list_payees(session.token)
    assert [p.name for p in payees] == ["李娜", "王芳"] and isinstance(payees[0], Payee)


async def test_channel_user_ids_with_special_characters(accounts, bind):
    user = "user@example.com=1+2:3"
    await bind(user=user)
    binding = await accounts.get_binding("wechat", user)
    assert binding is not None and binding.customer_name == "张伟"


async def test_transactions_and_filters(accounts, bind):
    session = await bind()
    txns = await accounts.list_transactions(session.token, limit=100)
    assert len(txns) >= 30 and isinstance(txns[0], Transaction)
    assert txns[0].balance_after == Decimal("52380.15")
    meituan = await accounts.list_transactions(
        session.token, merchant="美团", kind="消费", start=date(2026, 11, 1), end=date(2026, 11, 17)
    )
    assert meituan and all(t.merchant == "美团" and t.amount < 0 for t in meituan)
    assert all(date(2026, 11, 1) <= t.posted_at.date() <= date(2026, 11, 17) for t in meituan)
    with pytest.raises(BadRequest):
        await accounts.list_transactions(session.token, kind="赌博")
    with pytest.raises(CardNotFound):
        await accounts.list_transactions(session.token, account_last4="9999")


async def test_transfer_quote_execute_and_replay(accounts, bind):
    session = await bind()
    quote = await accounts.quote_transfer(
        session.token, payee="李娜", amount=Decimal("5000"), channel="wechat"
    )
    assert quote == TransferQuote(
        payee_name="李娜",
        payee_last4="8888",
        from_last4="1234",
        amount=Decimal("5000.00"),
        fee=Decimal("0.00"),
        review=False,
        channel="wechat",
        single_limit=Decimal("5000.00"),
        daily_remaining=Decimal("20000.00"),
        new_payee=False,
        review_threshold=Decimal("10000.00"),
        payee_bank="沪银银行",
    )
    results = await asyncio.gather(
        *(
            accounts.create_transfer(
                session.token,
                payee="李娜",
                amount=Decimal("5000"),
                channel="wechat",
                idempotency_key="client-key-0001",
            )
            for _ in range(3)
        )
    )
    assert all(isinstance(r, Transfer) for r in results)
    assert sorted(r.replayed for r in results) == [False, True, True]
    assert {r.transfer_id for r in results} == {results[0].transfer_id}
    assert results[0].balance_after == Decimal("47380.15")
    balance = next(a for a in await accounts.list_accounts(session.token) if a.last4 == "1234")
    assert balance.balance == Decimal("47380.15")

    with pytest.raises(IdempotencyConflict):
        await accounts.create_transfer(
            session.token,
            payee="李娜",
            amount=Decimal("1"),
            channel="wechat",
            idempotency_key="client-key-0001",
        )


async def test_transfer_errors_are_typed(accounts, bind):
    token = (await bind()).token
    with pytest.raises(LimitExceeded) as excinfo:
        await accounts.quote_transfer(token, payee="李娜", amount=Decimal("6000"), channel="wechat")
    assert excinfo.value.status == 422
    assert excinfo.value.details["kind"] == "single"
    assert excinfo.value.details["limit"] == "5000.00"
    with pytest.raises(PayeeNotFound) as not_found:
        await accounts.quote_transfer(token, payee="赵六", amount=Decimal("1"), channel="web")
    assert isinstance(not_found.value, NotFound)
    await accounts.create_transfer(
        token, payee="李娜", amount=Decimal("50000"), channel="web", idempotency_key="big-0001"
    )
    with pytest.raises(InsufficientFunds):
        await accounts.create_transfer(
            token, payee="李娜", amount=Decimal("3000"), channel="web", idempotency_key="big-0002"
        )
    with pytest.raises(BadRequest):
        await accounts.quote_transfer(token, payee="李娜", amount=Decimal("-5"), channel="web")
    with pytest.raises(BadRequest):
        await accounts.quote_transfer(token, payee="李娜", amount=Decimal("1.234"), channel="web")


async def test_held_for_review(accounts, bind):
    token = (await bind()).token
    transfer = await accounts.create_transfer(
        token,
        payee="6228480012345670001",
        amount=Decimal("10000"),
        channel="web",
        idempotency_key="review-0001",
    )
    assert transfer.status == "held_for_review"
    assert transfer.balance_after == Decimal("52380.15")


async def test_cards(accounts, bind):
    token = (await bind()).token
    cards = await accounts.list_cards(token)
    assert cards[0] == Card(card_id="K1001", card_type="储蓄卡", last4="1234", state="active")
    assert (await accounts.freeze_card(token, "1234")).state == "frozen"
    with pytest.raises(InvalidCardState) as excinfo:
        await accounts.freeze_card(token, "1234")
    assert excinfo.value.details["state"] == "frozen"
    assert (await accounts.unfreeze_card(token, "1234")).state == "active"
    assert (await accounts.report_card_lost(token, "1234")).state == "lost"
    with pytest.raises(InvalidCardState):
        await accounts.unfreeze_card(token, "1234")
    with pytest.raises(CardNotFound):
        await accounts.freeze_card(token, "0000")


async def test_otp_errors_are_typed(accounts, clock):
    with pytest.raises(CustomerNotFound):
        await accounts.request_otp("wechat", "o-x", "13700000000")
    with pytest.raises(VerificationRequired) as excinfo:
        await accounts.request_otp("wechat", "o-x")
    assert excinfo.value.level == "bind"
    with pytest.raises(OtpNotRequested):
        await accounts.verify_otp("wechat", "o-x", "123456")

    await accounts.request_otp("wechat", "o-x", "13800138000")
    with pytest.raises(OtpLocked) as locked:
        await accounts.request_otp("wechat", "o-x", "13800138000")
    assert locked.value.details["retry_after"] == 60
    code = (await accounts.sms_outbox("13800138000"))[0]["code"]
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(OtpInvalid) as invalid:
        await accounts.verify_otp("wechat", "o-x", wrong)
    assert invalid.value.details["attempts_left"] == 4
    for _ in range(3):
        with pytest.raises(OtpInvalid):
            await accounts.verify_otp("wechat", "o-x", wrong)
    with pytest.raises(OtpLocked) as locked:
        await accounts.verify_otp("wechat", "o-x", wrong)
    assert locked.value.details["retry_after"] == 600

    clock.advance(601)
    await accounts.request_otp("wechat", "o-x", "13800138000")
    clock.advance(301)
    code = (await accounts.sms_outbox("13800138000"))[0]["code"]
    with pytest.raises(OtpExpired):
        await accounts.verify_otp("wechat", "o-x", code)


async def test_step_up(accounts, bind, clock):
    session = await bind()
    clock.advance(600)
    assert await accounts.list_accounts(session.token)
    with pytest.raises(VerificationRequired) as excinfo:
        await accounts.list_transactions(session.token)
    assert excinfo.value.level == "step_up"
    sent = await accounts.request_otp("wechat", "o-zhang")
    assert sent.masked_phone == "138****8000"
    code = (await accounts.sms_outbox("13800138000"))[0]["code"]
    fresh = await accounts.verify_otp("wechat", "o-zhang", code)
    assert await accounts.list_transactions(fresh.token, limit=1)
    with pytest.raises(VerificationRequired) as excinfo:
        await accounts.list_accounts("garbage")
    assert excinfo.value.level == "bind"
