"""Balance, history and transfer actions against the real bank."""

from __future__ import annotations

from decimal import Decimal

from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import (
    ActionCheckBalance,
    ActionExecuteTransfer,
    ActionTransactionHistory,
    ActionTransferMoney,
    ValidateTransferForm,
)
from tests.actions.conftest import make_tracker, responses, slots_of
from tests.actions.helpers import verified_slots


async def test_balance_formats_every_account(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    events = await ActionCheckBalance().run(dispatcher, make_tracker(slots), domain_dict)
    by_response = {m["response"]: m for m in dispatcher.messages}
    assert by_response["utter_balance_line"]["available"] == "¥52,380.15"
    assert by_response["utter_balance_line"]["last4"] == "1234"
    assert by_response["utter_credit_line"]["last4"] == "5678"
    assert slots_of(events)["pending_request"] is None


async def test_history_lists_filtered_transactions(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, "time_range": "最近30天", "txn_kind": "消费"})
    events = await ActionTransactionHistory().run(dispatcher, tracker, domain_dict)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_transactions"
    assert message["count"] >= 1
    lines = message["lines"].splitlines()
    # Purchases only: every line is money out, and no salary or transfer in.
    assert lines and all("-¥" in line for line in lines)
    assert not any("工资" in line for line in lines)
    total = next(m for m in dispatcher.messages if m["response"] == "utter_transactions_spent_total")
    assert total["spent"].startswith("¥") and total["count"] == message["count"]
    assert slots_of(events)["time_range"] is None
    assert slots_of(events)["context"]["txn_kind"] == "消费"


async def test_last_month_is_the_bank_clocks_previous_calendar_month(
    bank_at_ten, domain_dict
) -> None:
    slots = await verified_slots(bank_at_ten, domain_dict)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {**slots, "time_range": "上个月", "merchant": "美团", "txn_kind": "花"},
        text="上个月在美团花了多少",
        intent="transaction_history",
    )
    events = await ActionTransactionHistory().run(dispatcher, tracker, domain_dict)
    by_response = {m["response"]: m for m in dispatcher.messages}
    period = by_response["utter_transactions_period"]
    # The sandbox clock says 2026-11-18, whatever the host's date.
    assert (period["start"], period["end"]) == ("2026年10月1日", "2026年10月31日")
    listing = by_response["utter_transactions"]
    assert all(line.startswith("10月") for line in listing["lines"].splitlines())
    assert all("美团" in line for line in listing["lines"].splitlines())
    assert "utter_transactions_spent_total" in by_response

    # "那饿了么呢": the merchant changes, the month stays.
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {**slots, "merchant": "饿了么", "context": slots_of(events)["context"]},
        text="那饿了么呢",
        intent="inform",
    )
    await ActionTransactionHistory().run(dispatcher, tracker, domain_dict)
    by_response = {m["response"]: m for m in dispatcher.messages}
    assert by_response["utter_transactions_period"]["start"] == "2026年10月1日"
    assert all("饿了么" in line for line in by_response["utter_transactions"]["lines"].splitlines())

    # Income as well as spending.
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, "time_range": "上个月", "txn_kind": "收入"})
    await ActionTransactionHistory().run(dispatcher, tracker, domain_dict)
    by_response = {m["response"]: m for m in dispatcher.messages}
    assert all("-¥" not in line for line in by_response["utter_transactions"]["lines"].splitlines())
    assert by_response["utter_transactions_income_total"]["income"] != "¥0.00"


async def test_history_without_fresh_code_asks_for_step_up(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    stale = {**slots, "step_up_until": 0.0}
    events = await ActionTransactionHistory().run(dispatcher, make_tracker(stale), domain_dict)
    assert slots_of(events)["pending_request"] == "transaction_history"
    assert responses(dispatcher) == ["utter_need_step_up"]


async def test_transfer_quote_limit_is_per_channel(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict, channel="wechat", sender="wx")
    form = ValidateTransferForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, "payee": "李娜"}, channel="wechat", sender="wx")
    result = await form.validate_amount("6000", dispatcher, tracker, domain_dict)
    assert result["amount"] is None
    assert dispatcher.messages[-1]["response"] == "utter_limit_exceeded_single_wechat"
    assert dispatcher.messages[-1]["limit"] == "¥5,000.00"
    web = make_tracker({**slots, "payee": "李娜"}, channel="rest", sender="wx")
    result = await form.validate_amount("6000", dispatcher, web, domain_dict)
    assert result["amount"] == "6000"
    assert result["transfer_payee_display"] == "李娜（尾号8888）"
    assert result["transfer_amount_display"] == "¥6,000.00"


async def test_unknown_payee_is_re_asked_with_choices(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    result = await ValidateTransferForm().validate_payee("赵六", dispatcher, make_tracker(slots), domain_dict)
    # Not a saved payee: asked again (by account number); the name is kept as the holder's.
    assert result == {"payee": None, "payee_name": "赵六"}
    assert dispatcher.messages[-1]["response"] == "utter_payee_not_found"
    titles = [b["title"] for b in dispatcher.messages[-1]["buttons"]]
    assert "李娜（尾号8888）" in titles and "王芳（尾号6666）" in titles


async def test_correction_at_confirmation_re_asks(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    tracker = make_tracker({**slots, "payee": "李娜"}, validated={"amount": "5000", "transfer_confirmed": False})
    result = await ValidateTransferForm().validate_transfer_confirmed(False, CollectingDispatcher(), tracker, domain_dict)
    assert result == {"transfer_confirmed": None}


async def test_a_payee_corrected_at_confirmation_is_changed_not_cancelled(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    text = "不对 收款人是王芳"
    tracker = make_tracker(
        {**slots, "payee": "李娜", "amount": "500"}, text=text, intent="deny",
        validated={"transfer_confirmed": False},
    )
    dispatcher = CollectingDispatcher()
    result = await ValidateTransferForm().validate_transfer_confirmed(False, dispatcher, tracker, domain_dict)
    assert result["payee"] == "王芳"
    assert result["transfer_confirmed"] is None  # asked again, with the new payee
    assert result["transfer_payee_display"] == "王芳（尾号6666）"
    # A plain no still declines.
    plain = make_tracker({**slots, "payee": "李娜", "amount": "500"}, text="不对 不转了", intent="deny")
    result = await ValidateTransferForm().validate_transfer_confirmed(
        False, CollectingDispatcher(), plain, domain_dict
    )
    assert result == {"transfer_confirmed": False}


async def test_an_amount_corrected_at_confirmation_is_re_quoted_and_no_name_is_made_up(
    bank, domain_dict
) -> None:
    slots = await verified_slots(bank, domain_dict)
    text = "那改成九千 免得审核"
    tracker = make_tracker(
        {**slots, "payee": "李娜", "amount": "20000"}, text=text,
        entities=[{"entity": "amount", "value": "9000"}],
    )
    form = ValidateTransferForm()
    assert await form.is_answer("transfer_confirmed", text, tracker)
    result = await form.validate_transfer_confirmed(text, CollectingDispatcher(), tracker, domain_dict)
    assert result["amount"] == "9000"
    assert result["transfer_amount_display"] == "¥9,000.00"
    assert result["transfer_confirmed"] is None
    assert "payee_name" not in result and "payee" not in result


async def test_a_holder_named_after_the_account_number_keeps_the_account(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    account = "6217003312345678900"
    tracker = make_tracker(
        {**slots, "payee": "刘洋", "amount": "3000"}, text="收款人不叫这个 他叫刘洋",
        entities=[{"entity": "payee", "value": "刘洋"}], validated={"payee": "刘洋"},
    )
    # What the conversation held before this message: the account number.
    tracker.events.insert(0, {"event": "slot", "name": "payee", "value": account})
    dispatcher = CollectingDispatcher()
    result = await ValidateTransferForm().validate_payee("刘洋", dispatcher, tracker, domain_dict)
    assert result["payee"] == account
    assert result["payee_name"] == "刘洋"
    assert result["transfer_payee_display"] == "刘洋（尾号8900）"
    assert "utter_payee_not_found" not in responses(dispatcher)


async def test_confirmed_transfer_runs_once(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    start = await ActionTransferMoney().run(CollectingDispatcher(), make_tracker(slots), domain_dict)
    key = slots_of(start)["transfer_key"]
    ready = {**slots, "payee": "李娜", "amount": "500", "transfer_confirmed": True, "transfer_key": key}
    first, second = CollectingDispatcher(), CollectingDispatcher()
    await ActionExecuteTransfer().run(first, make_tracker(ready), domain_dict)
    await ActionExecuteTransfer().run(second, make_tracker(ready), domain_dict)
    assert first.messages[0]["response"] == "utter_transfer_done"
    assert first.messages[0]["balance"] == "¥51,880.15"
    assert first.messages[0]["transfer_id"] == second.messages[0]["transfer_id"]
    accounts = await bank.accounts.list_accounts(slots["auth_token"])
    assert next(a for a in accounts if a.last4 == "1234").balance == Decimal("51880.15")


async def test_declined_transfer_moves_nothing(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    ready = {**slots, "payee": "李娜", "amount": "500", "transfer_confirmed": False, "transfer_key": "k1"}
    events = await ActionExecuteTransfer().run(dispatcher, make_tracker(ready), domain_dict)
    assert responses(dispatcher) == ["utter_transfer_cancelled"]
    assert slots_of(events)["payee"] is None
    accounts = await bank.accounts.list_accounts(slots["auth_token"])
    assert next(a for a in accounts if a.last4 == "1234").balance == Decimal("52380.15")


async def test_a_payee_ruled_out_by_name_is_not_chosen(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    text = "不是李娜 是我同事小李 我没存过他的卡"
    result = await ValidateTransferForm().validate_payee(
        text, dispatcher, make_tracker(slots, text=text), domain_dict
    )
    assert result["payee"] is None
    assert dispatcher.messages[-1]["response"] == "utter_payee_not_found"


async def test_the_name_not_ruled_out_is_the_payee(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    text = "哦不对不对 是给王芳 不是李娜"
    tracker = make_tracker(
        slots, text=text,
        entities=[{"entity": "payee", "value": "王芳"}, {"entity": "payee", "value": "李娜"}],
    )
    dispatcher = CollectingDispatcher()
    result = await ValidateTransferForm().validate_payee("李娜", dispatcher, tracker, domain_dict)
    assert result["payee"] == "王芳"
    assert "utter_payee_not_found" not in responses(dispatcher)


async def test_the_same_request_during_its_verification_explains_instead_of_restarting(
    domain_dict,
) -> None:
    from actions.base import verification_events

    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {"pending_request": "transaction_history", "phone": "13800138000", "otp_requested": True},
        text="看个流水为啥还要验证码",
        intent="transaction_history",
        active_loop="verify_form",
        requested_slot="otp_code",
    )
    events = verification_events(dispatcher, tracker, "transaction_history", "step_up")
    assert responses(dispatcher) == ["utter_why_verification"]
    assert slots_of(events) == {"pending_request": "transaction_history"}  # the code stays asked
