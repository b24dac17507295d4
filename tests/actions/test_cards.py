"""Card actions against the real bank: loss is permanent, freeze is reversible."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.cards import (
    ActionCreditCardBill,
    ActionReportCardLost,
    ActionSubmitCardRequest,
    ActionUnfreezeCard,
    ValidateCardForm,
)
from tests.actions.conftest import make_tracker, responses, slots_of
from tests.actions.helpers import verified_slots


async def test_report_lost_then_unfreeze_is_refused(bank, domain_dict) -> None:
    slots = await verified_slots(bank, domain_dict)
    dispatcher = CollectingDispatcher()
    start = slots_of(await ActionReportCardLost().run(dispatcher, make_tracker(slots), domain_dict))
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
