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
    assert "-¥" in message["lines"]
    assert slots_of(events)["time_range"] is None


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
    assert result == {"payee": None}
    assert dispatcher.messages[-1]["response"] == "utter_payee_not_found"
    titles = [b["title"] for b in dispatcher.messages[-1]["buttons"]]
    assert "李娜（尾号8888）" in titles and "王芳（尾号6666）" in titles


async def test_correction_at_confirmation_re_asks(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    tracker = make_tracker({**slots, "payee": "李娜"}, validated={"amount": "5000", "transfer_confirmed": False})
    result = await ValidateTransferForm().validate_transfer_confirmed(False, CollectingDispatcher(), tracker, domain_dict)
    assert result == {"transfer_confirmed": None}


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
