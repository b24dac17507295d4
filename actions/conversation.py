"""Conversation-level actions: greeting, session start, restart, cancelling a task."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    EventType,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
)

from actions.accounts import TRANSFER_SLOTS
from actions.base import services
from actions.branches import QUEUE_SLOTS
from actions.cards import CARD_SLOTS
from actions.products import RISK_SLOTS
from bot.services.errors import ServiceUnavailable, VerificationRequired

TASK_SLOTS = (
    *TRANSFER_SLOTS,
    *CARD_SLOTS,
    *QUEUE_SLOTS,
    *RISK_SLOTS,
    "complaint_text",
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
            for name in ("pending_request", "payee", "amount", "card_operation", "branch", "risk_q1")
        )
        dispatcher.utter_message(response="utter_cancelled" if busy else "utter_nothing_to_cancel")
        return [SlotSet(name, None) for name in dict.fromkeys(TASK_SLOTS)]


class ActionGreet(Action):
    """Greets; a bound VIP is greeted as such, with the personal manager's contact."""

    def name(self) -> str:
        return "action_greet"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        token = tracker.get_slot("auth_token")
        if token and tracker.get_slot("vip"):
            try:
                profile = await services().accounts.get_profile(token)
            except (ServiceUnavailable, VerificationRequired):
                profile = None
            if profile is not None and profile.vip and profile.manager is not None:
                dispatcher.utter_message(
                    response="utter_greet_vip",
                    name=profile.name,
                    manager=profile.manager.name,
                    manager_title=profile.manager.title,
                    manager_phone=profile.manager.phone,
                )
                return []
        dispatcher.utter_message(response="utter_greet")
        return []


# Slots that describe one session only; everything else carries over.
SESSION_ONLY = ("offer_made", "offer_pending", "offer_code", *TASK_SLOTS)


class ActionSessionStart(Action):
    """A new session keeps the binding but forgets tasks and this session's offer.

    A conversation a staff member has taken over stays paused (SessionStarted
    resets Rasa's tracker, which would let the bot answer again): only the
    console's hand-back resumes it.
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        carried = [
            SlotSet(name, value)
            for name, value in tracker.current_slot_values().items()
            if name not in SESSION_ONLY and name != "requested_slot" and value is not None
        ]
        paused = [ConversationPaused()] if tracker.is_paused() else []
        return [SessionStarted(), *carried, *paused, ActionExecuted("action_listen")]


class ActionRestart(Action):
    """``/restart`` starts over like Rasa's own action, unless staff hold the conversation.

    Rasa handles a restart even in a paused conversation, and its Restarted event
    unpauses it: the bot would answer beside the staff member who took it over.
    There the request is only logged (staff see it in the transcript); the console's
    hand-back is what gives the conversation back to the bot.
    """

    def name(self) -> str:
        return "action_restart"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if tracker.is_paused():
            return [FollowupAction("action_listen")]
        return [Restarted()]  # silent, as Rasa's is without an utter_restart response
