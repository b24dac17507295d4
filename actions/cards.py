"""Card loss report, temporary freeze and unfreeze, and the credit card bill."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import BankAction, services, skip_cleared, slot_str
from bot.formatting import card_label, format_cny, long_date
from bot.services.errors import (
    CardNotFound,
    InvalidCardState,
    NotFound,
    ServiceUnavailable,
    VerificationRequired,
)
from bot.services.types import Card

# Which card states each operation can start from (the bank enforces the same).
ELIGIBLE_STATES = {
    "report_card_lost": {"active", "frozen"},
    "freeze_card": {"active"},
    "unfreeze_card": {"frozen"},
}
CARD_SLOTS = ("card_last4", "card_confirmed", "card_display", "card_operation", "account_type")


def card_buttons(cards: list[Card]) -> list[dict[str, str]]:
    return [
        {
            "title": card_label(card.card_type, card.last4),
            "payload": f'/inform{{"card_last4": "{card.last4}"}}',
        }
        for card in cards
    ]


async def eligible_cards(tracker: Tracker, operation: str) -> list[Card]:
    cards = await services().accounts.list_cards(tracker.get_slot("auth_token"))
    return [c for c in cards if c.state in ELIGIBLE_STATES[operation]]


class CardRequestAction(BankAction):
    """Starts card_form for one card operation (a fresh verification first)."""

    sensitive = True

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        cards = await eligible_cards(tracker, self.intent)
        if not cards:
            dispatcher.utter_message(response=f"utter_no_card_for_{self.intent}")
            return [*(SlotSet(s, None) for s in CARD_SLOTS), FollowupAction("action_listen")]
        events: list[EventType] = [
            SlotSet("card_operation", self.intent),
            SlotSet("card_confirmed", None),
        ]
        wanted_last4 = slot_str(tracker, "card_last4")
        wanted_type = slot_str(tracker, "account_type")
        chosen = [c for c in cards if c.last4 == wanted_last4] if wanted_last4 else []
        if not chosen and wanted_type:
            chosen = [c for c in cards if c.card_type == wanted_type]
        if not chosen and len(cards) == 1:
            chosen = cards
        if len(chosen) == 1:
            card = chosen[0]
            events += [
                SlotSet("card_last4", card.last4),
                SlotSet("card_display", card_label(card.card_type, card.last4)),
            ]
        else:
            events.append(SlotSet("card_last4", None))
        return events


class ActionReportCardLost(CardRequestAction):
    intent = "report_card_lost"


class ActionFreezeCard(CardRequestAction):
    intent = "freeze_card"


class ActionUnfreezeCard(CardRequestAction):
    intent = "unfreeze_card"


class ActionAskCardLast4(Action):
    def name(self) -> str:
        return "action_ask_card_last4"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        operation = tracker.get_slot("card_operation") or "report_card_lost"
        try:
            cards = await eligible_cards(tracker, operation)
        except (ServiceUnavailable, VerificationRequired):
            cards = []
        dispatcher.utter_message(response="utter_ask_card_last4", buttons=card_buttons(cards))
        return []


class ValidateCardForm(FormValidationAction):
    def name(self) -> str:
        return "validate_card_form"

    @skip_cleared
    async def validate_card_last4(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        digits = "".join(ch for ch in str(slot_value or "") if ch.isdigit())[-4:]
        operation = tracker.get_slot("card_operation") or "report_card_lost"
        cards = await eligible_cards(tracker, operation)
        card = next((c for c in cards if c.last4 == digits), None)
        if card is None:
            dispatcher.utter_message(
                response="utter_card_not_found",
                card_last4=digits or str(slot_value),
                buttons=card_buttons(cards),
            )
            return {"card_last4": None}
        return {"card_last4": card.last4, "card_display": card_label(card.card_type, card.last4)}

    @skip_cleared
    async def validate_card_confirmed(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if "card_last4" in tracker.slots_to_validate():
            return {"card_confirmed": None}
        return {"card_confirmed": slot_value}


class ActionAskCardConfirmed(Action):
    """Asks to confirm with the wording of the operation (loss is permanent)."""

    def name(self) -> str:
        return "action_ask_card_confirmed"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        operation = tracker.get_slot("card_operation") or "report_card_lost"
        dispatcher.utter_message(
            response=f"utter_ask_card_confirmed_{operation}",
            card_display=tracker.get_slot("card_display"),
        )
        return []


class ActionSubmitCardRequest(Action):
    def name(self) -> str:
        return "action_submit_card_request"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        reset = [SlotSet(s, None) for s in CARD_SLOTS]
        display = tracker.get_slot("card_display")
        if not tracker.get_slot("card_confirmed"):
            dispatcher.utter_message(response="utter_card_request_cancelled")
            return reset
        operation = tracker.get_slot("card_operation")
        accounts = services().accounts
        calls = {
            "report_card_lost": (accounts.report_card_lost, "utter_card_reported_lost"),
            "freeze_card": (accounts.freeze_card, "utter_card_frozen"),
            "unfreeze_card": (accounts.unfreeze_card, "utter_card_unfrozen"),
        }
        call, response = calls[operation]
        try:
            await call(tracker.get_slot("auth_token"), tracker.get_slot("card_last4"))
        except InvalidCardState as exc:
            state = str(exc.details.get("state", ""))
            if state == "lost":
                dispatcher.utter_message(response="utter_card_already_lost", card_display=display)
            else:
                dispatcher.utter_message(
                    response=f"utter_card_state_conflict_{'frozen' if state == 'frozen' else 'active'}",
                    card_display=display,
                )
            return reset
        except CardNotFound:
            dispatcher.utter_message(
                response="utter_card_not_found", card_last4=tracker.get_slot("card_last4")
            )
            return reset
        except VerificationRequired:
            dispatcher.utter_message(response="utter_verification_expired")
            return reset
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return reset
        dispatcher.utter_message(response=response, card_display=display)
        return reset


class ActionCreditCardBill(BankAction):
    intent = "credit_card_bill"

    async def perform(self, dispatcher, tracker, domain, token) -> list[EventType]:
        try:
            bill = await services().accounts.credit_card_bill(
                token, slot_str(tracker, "card_last4")
            )
        except NotFound:
            dispatcher.utter_message(response="utter_no_credit_card")
            return [SlotSet("card_last4", None)]
        dispatcher.utter_message(
            response="utter_credit_card_bill",
            last4=bill.card_last4,
            statement_balance=format_cny(bill.statement_balance),
            minimum_payment=format_cny(bill.minimum_payment),
            due_date=long_date(bill.due_date),
            credit_limit=format_cny(bill.credit_limit),
            available_credit=format_cny(bill.available_credit),
        )
        return [SlotSet("card_last4", None)]
