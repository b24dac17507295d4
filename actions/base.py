"""Shared plumbing for actions: the service factory, channel and verification helpers."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.services.errors import ServiceUnavailable, VerificationRequired
from bot.services.factory import ServiceFactory
from bot.settings import Settings

_factory: ServiceFactory | None = None


def services() -> ServiceFactory:
    """The action server's one service factory, built on first use (not at import)."""
    global _factory
    if _factory is None:
        _factory = ServiceFactory(Settings.from_env())
    return _factory


def set_services(factory: ServiceFactory | None) -> None:
    """Swap the factory (tests point actions at a bank on a free port)."""
    global _factory
    _factory = factory


def channel_of(tracker: Tracker) -> str:
    """The limit channel of the conversation: "wechat" or "web"."""
    name = (tracker.get_latest_input_channel() or "").lower()
    return "wechat" if "wechat" in name else "web"


def is_step_up_fresh(tracker: Tracker, now: float | None = None) -> bool:
    """True while the last one-time-code verification is inside the window."""
    until = tracker.get_slot("step_up_until")
    if not tracker.get_slot("auth_token") or until is None:
        return False
    return float(until) > (time.time() if now is None else now)


def verification_events(
    dispatcher: CollectingDispatcher, tracker: Tracker, request: str, level: str
) -> list[EventType]:
    """Park ``request`` and hand over to verify_form (the rules pick it up)."""
    bound = bool(tracker.get_slot("customer_id"))
    dispatcher.utter_message(
        response="utter_need_step_up" if bound and level == "step_up" else "utter_need_verification"
    )
    return [
        SlotSet("pending_request", request),
        SlotSet("otp_requested", False),
        SlotSet("otp_code", None),
        SlotSet("phone", None),
        SlotSet("verify_locked", False),
    ]


class BankAction(Action):
    """An action on behalf of a bound customer.

    ``intent`` names the request this action serves, so that a missing or stale
    verification parks it in ``pending_request`` and it resumes after verify_form.
    ``sensitive`` actions need a fresh one-time code, others only a binding.
    """

    intent: str = ""
    sensitive: bool = False

    def name(self) -> str:
        return f"action_{self.intent}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        token = tracker.get_slot("auth_token")
        if not token:
            return verification_events(dispatcher, tracker, self.intent, "bind")
        if self.sensitive and not is_step_up_fresh(tracker):
            return verification_events(dispatcher, tracker, self.intent, "step_up")
        try:
            events = await self.perform(dispatcher, tracker, domain, token)
        except VerificationRequired as exc:
            return verification_events(dispatcher, tracker, self.intent, exc.level)
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return [SlotSet("pending_request", None)]
        return [SlotSet("pending_request", None), *events]

    async def perform(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        token: str,
    ) -> list[EventType]:
        raise NotImplementedError


def slot_str(tracker: Tracker, name: str) -> str | None:
    value: Any = tracker.get_slot(name)
    return None if value in (None, "") else str(value)


def skip_cleared(
    validate: Callable[..., Awaitable[dict[str, Any]]],
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A ``validate_<slot>`` method that ignores a slot another action merely cleared.

    rasa_sdk hands every slot set just before a form runs to its validator, including
    ``SlotSet(slot, None)`` from the action that reset the task; None is no answer.
    """
    slot = validate.__name__.removeprefix("validate_")

    @functools.wraps(validate)
    async def wrapper(
        self: Any, slot_value: Any, dispatcher: Any, tracker: Any, domain: Any
    ) -> dict[str, Any]:
        if slot_value is None:
            return {slot: None}
        return await validate(self, slot_value, dispatcher, tracker, domain)

    return wrapper
