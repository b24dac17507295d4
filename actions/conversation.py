"""Conversation-level actions: cancelling whatever task is under way."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.accounts import TRANSFER_SLOTS
from actions.cards import CARD_SLOTS

TASK_SLOTS = (
    *TRANSFER_SLOTS,
    *CARD_SLOTS,
    "pending_request",
    "phone",
    "otp_code",
    "otp_requested",
    "verify_locked",
    "time_range",
    "txn_kind",
    "merchant",
)


class ActionCancelTask(Action):
    """Clears every task slot; says so only when something was under way."""

    def name(self) -> str:
        return "action_cancel_task"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        busy = any(
            tracker.get_slot(name) not in (None, False)
            for name in ("pending_request", "payee", "amount", "card_operation")
        )
        dispatcher.utter_message(response="utter_cancelled" if busy else "utter_nothing_to_cancel")
        return [SlotSet(name, None) for name in dict.fromkeys(TASK_SLOTS)]
