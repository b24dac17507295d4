"""Forms let customers step out: a non-answer is rejected (the rules answer it and the
form asks again); only an attempt at the requested slot gets a format error."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import ValidateTransferForm
from actions.cards import ValidateCardForm
from actions.conversation import ActionExplainStep, ActionYesOrNo
from actions.products import ValidateRiskForm
from actions.verification import ValidateVerifyForm
from tests.actions.conftest import make_tracker, responses, slots_of
from tests.actions.helpers import verified_slots


def rejected(events: list[dict]) -> bool:
    return any(e.get("event") == "action_execution_rejected" for e in events)


async def test_a_question_at_the_phone_step_is_no_malformed_phone(bank, domain_dict) -> None:
    for text, intent in (
        ("我那个卡的密码忘记了 咋整", "faq"),
        ("我不会打字 能不能让人给我打电话", "human_handoff"),
        ("附近有没有网店", "find_branch"),
    ):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(
            text=text,
            intent=intent,
            active_loop="verify_form",
            requested_slot="phone",
            validated={"phone": text},
        )
        events = await ValidateVerifyForm().run(dispatcher, tracker, domain_dict)
        assert rejected(events), text
        assert {"event": "slot", "name": "phone", "value": None} in [
            {k: e.get(k) for k in ("event", "name", "value")} for e in events
        ]
        assert "utter_invalid_phone" not in responses(dispatcher)


async def test_an_attempt_at_the_phone_step_gets_the_format_error(bank, domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        text="1380013800",
        active_loop="verify_form",
        requested_slot="phone",
        validated={"phone": "1380013800"},
    )
    events = await ValidateVerifyForm().run(dispatcher, tracker, domain_dict)
    assert not rejected(events)
    assert responses(dispatcher) == ["utter_invalid_phone"]


async def test_an_amount_at_the_payee_step_is_kept_and_the_payee_asked_again(
    bank, domain_dict
) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots,
        text="两万",
        entities=[{"entity": "amount", "value": "20000"}],
        active_loop="transfer_form",
        requested_slot="payee",
        validated={"payee": "两万", "amount": "20000"},
    )
    events = await ValidateTransferForm().run(dispatcher, tracker, domain_dict)
    assert not rejected(events)
    values = slots_of(events)
    assert values["amount"] == "20000"
    assert values.get("payee") is None
    assert "utter_payee_not_found" not in responses(dispatcher)
    assert "utter_amount_noted" in responses(dispatcher)


async def test_a_new_account_number_asks_for_the_holder_then_quotes(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    form = ValidateTransferForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots,
        text="6222 0212 3456 7890 123",
        active_loop="transfer_form",
        requested_slot="payee",
        validated={"payee": "6222 0212 3456 7890 123"},
    )
    values = slots_of(await form.run(dispatcher, tracker, domain_dict))
    assert values["payee"] == "6222021234567890123"
    assert values.get("payee_name") is None  # asked next (nothing quoted without it)
    assert "transfer_payee_display" not in values
    assert "payee_name" in await form.required_slots([], dispatcher, tracker, domain_dict)

    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {**slots, "payee": "6222021234567890123", "amount": "20000"},
        text="收款人叫陈明",
        active_loop="transfer_form",
        requested_slot="payee_name",
        validated={"payee_name": "收款人叫陈明"},
    )
    values = slots_of(await form.run(dispatcher, tracker, domain_dict))
    assert values["payee_name"] == "陈明"
    assert values["transfer_review"] is True  # a new payee over the threshold
    assert "utter_new_payee_rule" in responses(dispatcher)


async def test_the_card_step_takes_a_card_type_and_rejects_a_change_of_mind(
    bank, domain_dict
) -> None:
    slots = {**await verified_slots(bank, domain_dict), "card_operation": "freeze_card"}
    form = ValidateCardForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots,
        text="信用卡",
        active_loop="card_form",
        requested_slot="card_last4",
        validated={"card_last4": "信用卡"},
    )
    values = slots_of(await form.run(dispatcher, tracker, domain_dict))
    assert values["card_last4"] == "5678"

    text = "等一下 挂失是不是就不能用了 那算了 还是先冻结吧"
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots,
        text=text,
        intent="freeze_card",
        active_loop="card_form",
        requested_slot="card_last4",
        validated={"card_last4": text},
    )
    events = await form.run(dispatcher, tracker, domain_dict)
    assert rejected(events)
    assert "utter_card_not_found" not in responses(dispatcher)


async def test_risk_answers_by_number_and_words(bank, domain_dict) -> None:
    form = ValidateRiskForm()
    dispatcher = CollectingDispatcher()
    first = await form.validate_risk_q1("1", dispatcher, make_tracker(), domain_dict)
    assert first == {"risk_q1": "A"}
    tracker = make_tracker(
        text="我也说不好", intent="faq", active_loop="risk_form", requested_slot="risk_q1",
        validated={"risk_q1": "我也说不好"},
    )
    assert rejected(await form.run(dispatcher, tracker, domain_dict))  # a question, not an option


async def test_explain_step_names_the_requested_slot(domain_dict) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="affirm", active_loop="transfer_form", requested_slot="payee")
    await ActionExplainStep().run(dispatcher, tracker, domain_dict)
    assert responses(dispatcher) == ["utter_not_confirm_step", "utter_explain_payee"]

    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="ask_explain", active_loop="risk_form", requested_slot="risk_q3")
    await ActionExplainStep().run(dispatcher, tracker, domain_dict)
    assert responses(dispatcher) == ["utter_explain_risk_question"]


async def test_a_bare_yes_accepts_only_the_question_just_asked(domain_dict) -> None:
    offer = {"intent": "take_queue_ticket", "entities": {}}
    fresh = make_tracker(intent="affirm")
    fresh.events[:0] = [{"event": "slot", "name": "offer_next", "value": offer}]
    events = await ActionYesOrNo().run(CollectingDispatcher(), fresh, domain_dict)
    user = [e for e in events if e.get("event") == "user"]
    assert user and user[0]["parse_data"]["intent"]["name"] == "take_queue_ticket"
    assert [e.get("name") for e in events if e.get("event") == "action"] == ["action_listen"]

    stale = make_tracker(intent="affirm")
    stale.events[:0] = [
        {"event": "slot", "name": "offer_next", "value": offer},
        {"event": "user", "text": "人民广场在哪", "parse_data": {}},
    ]
    dispatcher = CollectingDispatcher()
    events = await ActionYesOrNo().run(dispatcher, stale, domain_dict)
    assert not [e for e in events if e.get("event") == "user"]
    assert responses(dispatcher) == ["utter_nothing_to_confirm"]


async def test_a_yes_that_names_another_operation_never_confirms_a_loss_report(
    bank, domain_dict
) -> None:
    slots = {
        **await verified_slots(bank, domain_dict),
        "card_operation": "report_card_lost",
        "card_last4": "1234",
        "card_display": "储蓄卡（尾号1234）",
    }
    for text, intent, value in (
        ("好吧 那就冻结吧", "affirm", True),
        ("还是先冻结吧", "freeze_card", "还是先冻结吧"),
    ):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(
            slots, text=text, intent=intent, active_loop="card_form",
            requested_slot="card_confirmed", validated={"card_confirmed": value},
        )
        events = await ValidateCardForm().run(dispatcher, tracker, domain_dict)
        # The operation changes to the freeze and its confirmation is asked: no loss report.
        values = slots_of(events)
        assert values["card_operation"] == "freeze_card", text
        assert values["card_confirmed"] is None
        assert "utter_card_operation_switched" in responses(dispatcher)


async def test_typed_confirmations_are_understood(bank, domain_dict) -> None:
    slots = {
        **await verified_slots(bank, domain_dict),
        "card_operation": "unfreeze_card",
        "card_last4": "5678",
        "card_display": "信用卡（尾号5678）",
    }
    for text, expected in (("确认解冻", True), ("先不解冻了", False)):
        tracker = make_tracker(
            slots, text=text, intent="unfreeze_card", active_loop="card_form",
            requested_slot="card_confirmed", validated={"card_confirmed": text},
        )
        events = await ValidateCardForm().run(CollectingDispatcher(), tracker, domain_dict)
        assert not rejected(events)
        assert slots_of(events)["card_confirmed"] is expected, text
