"""Card actions against the real bank: loss is permanent, freeze is reversible."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.cards import (
    ActionAskCardOperation,
    ActionCreditCardBill,
    ActionFreezeCard,
    ActionReportCardLost,
    ActionSubmitCardRequest,
    ActionUnfreezeCard,
    ValidateCardForm,
    requested_operation,
)
from tests.actions.conftest import make_tracker, responses, slots_of
from tests.actions.helpers import verified_slots


async def test_report_lost_then_unfreeze_is_refused(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots, text="我要挂失", intent="report_card_lost")
    start = slots_of(await ActionReportCardLost().run(dispatcher, tracker, domain_dict))
    assert start["card_operation"] == "report_card_lost"
    assert start["card_last4"] is None  # two cards: the form asks which
    checked = await ValidateCardForm().validate_card_last4(
        "1234", dispatcher, make_tracker({**slots, **start}), domain_dict
    )
    assert checked["card_display"] == "储蓄卡（尾号1234）"
    ready = {**slots, **start, **checked, "card_confirmed": True}
    await ActionSubmitCardRequest().run(dispatcher, make_tracker(ready), domain_dict)
    assert responses(dispatcher)[-1] == "utter_card_reported_lost"
    cards = {c.last4: c.state for c in await bank.accounts.list_cards(slots["auth_token"])}
    assert cards["1234"] == "lost"

    dispatcher = CollectingDispatcher()
    events = await ActionUnfreezeCard().run(dispatcher, make_tracker(slots), domain_dict)
    assert responses(dispatcher) == ["utter_no_card_for_unfreeze_card"]
    assert any(e.get("event") == "followup" for e in events)


async def test_unknown_card_is_re_asked(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, "card_operation": "freeze_card"})
    result = await ValidateCardForm().validate_card_last4("9999", dispatcher, tracker, domain_dict)
    assert result == {"card_last4": None}
    assert dispatcher.messages[-1]["response"] == "utter_card_not_found"
    assert len(dispatcher.messages[-1]["buttons"]) == 2


async def test_credit_card_bill(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    await ActionCreditCardBill().run(dispatcher, make_tracker(slots), domain_dict)
    bill = dispatcher.messages[0]
    assert bill["statement_balance"] == "¥3,200.00"
    assert bill["minimum_payment"] == "¥320.00"
    assert bill["due_date"].endswith("15日")


async def test_a_loss_with_a_freeze_word_is_asked_not_guessed(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    for text, intent in (
        ("钱包被偷了 卡都在里面 先把卡冻上 快点", "report_card_lost"),
        ("我的卡丢了", "report_card_lost"),
        ("卡丢了怎么办 先锁一下还是挂失", "freeze_card"),
    ):
        action = ActionReportCardLost() if intent == "report_card_lost" else ActionFreezeCard()
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, make_tracker(slots, text=text, intent=intent), domain_dict)
        assert slots_of(events)["card_operation"] is None, text

    text = "钱包被偷了 卡都在里面 先把卡冻上 快点"
    events = await ActionReportCardLost().run(
        CollectingDispatcher(), make_tracker(slots, text=text), domain_dict
    )
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**slots, **slots_of(events)}, text=text)
    await ActionAskCardOperation().run(dispatcher, tracker, domain_dict)
    assert responses(dispatcher) == ["utter_ask_card_operation_stolen"]


async def test_an_explicit_request_or_a_button_names_the_operation(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    cases = (
        ("report_card_lost", "卡丢了 帮我挂失", "report_card_lost"),
        ("freeze_card", "信用卡也冻一下", "freeze_card"),
        ("report_card_lost", "/report_card_lost", "report_card_lost"),
        ("unfreeze_card", "卡找到了", "unfreeze_card"),
        ("freeze_card", "卡丢了", None),  # a loss: freeze or report? asked
    )
    for intent, text, operation in cases:
        tracker = make_tracker(slots, text=text, intent=intent)
        assert requested_operation(tracker, intent) == operation, text
    # 信用卡 in the words picks the credit card.
    events = await ActionFreezeCard().run(
        CollectingDispatcher(), make_tracker(slots, text="信用卡也冻一下"), domain_dict
    )
    assert slots_of(events)["card_last4"] == "5678"


async def test_choosing_the_operation_in_the_form(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    form = ValidateCardForm()
    dispatcher = CollectingDispatcher()
    result = await form.validate_card_operation("先冻上吧", dispatcher, make_tracker(slots), domain_dict)
    assert result["card_operation"] == "freeze_card"
    result = await form.validate_card_operation(
        "report_card_lost", dispatcher, make_tracker(slots), domain_dict
    )
    assert result["card_operation"] == "report_card_lost"
