"""Binding and step-up verification actions against the real bank."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import ActionCheckBalance
from actions.verification import ActionAskOtpCode, ActionBindAccount, ValidateVerifyForm
from tests.actions.conftest import make_tracker, responses, slots_of
from tests.actions.helpers import verified_slots


async def test_unbound_balance_parks_the_request(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionCheckBalance().run(dispatcher, make_tracker(intent="check_balance"), domain_dict)
    assert slots_of(events)["pending_request"] == "check_balance"
    assert responses(dispatcher) == ["utter_need_verification"]


async def test_phone_then_code_binds_the_customer(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    assert slots["customer_name"] == "张伟"
    assert slots["otp_code"] == "verified"  # the code itself is not kept
    assert slots["phone"] is None
    binding = await bank.accounts.get_binding("web", "tester")
    assert binding is not None and binding.customer_name == "张伟"


async def test_bad_phone_is_explained_and_not_kept(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    form = ValidateVerifyForm()
    result = await form.validate_phone("12345", dispatcher, make_tracker(text="12345"), domain_dict)
    assert result == {"phone": None}
    assert responses(dispatcher) == ["utter_invalid_phone"]
    result = await form.validate_phone("13700000000", dispatcher, make_tracker(), domain_dict)
    assert result == {"phone": None}
    assert responses(dispatcher)[-1] == "utter_phone_not_found"


async def test_wrong_code_counts_down_then_locks(bank, domain_dict) -> None:
    form = ValidateVerifyForm()
    dispatcher = CollectingDispatcher()
    await form.validate_phone("13800138000", dispatcher, make_tracker(sender="lock"), domain_dict)
    code = (await bank.accounts.sms_outbox("13800138000"))[0]["code"]
    wrong = "000000" if code != "000000" else "111111"
    result = await form.validate_otp_code(wrong, dispatcher, make_tracker(sender="lock", text=wrong), domain_dict)
    assert result == {"otp_code": None}
    assert dispatcher.messages[-1]["response"] == "utter_otp_invalid"
    assert dispatcher.messages[-1]["attempts_left"] >= 1
    result = await form.validate_otp_code("12a45", dispatcher, make_tracker(sender="lock", text="12a45"), domain_dict)
    assert responses(dispatcher)[-1] == "utter_invalid_otp_format"
    for _ in range(10):
        result = await form.validate_otp_code(wrong, dispatcher, make_tracker(sender="lock", text=wrong), domain_dict)
        if result.get("verify_locked"):
            break
    assert result["verify_locked"] is True and result["pending_request"] is None
    assert responses(dispatcher)[-1] == "utter_otp_locked"
    assert await form.required_slots([], dispatcher, make_tracker(result, sender="lock"), domain_dict) == []


async def test_bound_user_only_needs_a_code(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict, sender="again")
    dispatcher = CollectingDispatcher()
    form = ValidateVerifyForm()
    required = await form.required_slots(["phone", "otp_code"], dispatcher, make_tracker(sender="again"), domain_dict)
    assert required == ["otp_code"]
    ask = await ActionAskOtpCode().run(dispatcher, make_tracker({"customer_id": slots["customer_id"]}, sender="again"), domain_dict)
    assert slots_of(ask)["otp_requested"] is True
    assert responses(dispatcher)[-2:] == ["utter_otp_sent", "utter_ask_otp_code"]
    assert dispatcher.messages[-2]["masked_phone"] == "138****8000"


async def test_bind_account_when_fresh_says_so(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    events = await ActionBindAccount().run(dispatcher, make_tracker(slots), domain_dict)
    assert responses(dispatcher) == ["utter_bound_already"]
    assert slots_of(events)["pending_request"] is None
