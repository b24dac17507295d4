"""Shared plumbing for actions: the service factory, channel and verification helpers."""

from __future__ import annotations

import abc
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ActionExecutionRejected,
    EventType,
    SlotSet,
    UserUttered,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.console.rasa_client import RasaError
from bot.services.errors import NotFound, ServiceUnavailable, VerificationRequired
from bot.services.factory import ServiceFactory
from bot.settings import Settings

log = logging.getLogger(__name__)

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


async def bank_time() -> float:
    """The bank's clock (a sandbox clock may run ahead of ours) as a UNIX time; our
    own clock when the bank cannot be asked (the call that follows will say so)."""
    try:
        return (await services().accounts.bank_now()).timestamp()
    except ServiceUnavailable:
        return time.time()


def is_step_up_fresh(tracker: Tracker, now: float | None = None) -> bool:
    """True while the last one-time-code verification is inside the window
    (``step_up_until`` is the bank's expiry; pass ``now`` from :func:`bank_time`)."""
    until = tracker.get_slot("step_up_until")
    if not tracker.get_slot("auth_token") or until is None:
        return False
    return float(until) > (time.time() if now is None else now)


def verification_events(
    dispatcher: CollectingDispatcher, tracker: Tracker, request: str, level: str
) -> list[EventType]:
    """Park ``request`` and hand over to verify_form (the rules pick it up)."""
    verifying = (tracker.active_loop or {}).get("name") == "verify_form"
    if verifying and tracker.get_slot("pending_request") == request:
        # The same request again while its verification runs ("看个流水为啥还要验证码"):
        # say why, and carry on where verification was.
        dispatcher.utter_message(response="utter_why_verification")
        return [SlotSet("pending_request", request)]
    bound = bool(tracker.get_slot("customer_id"))
    dispatcher.utter_message(
        response="utter_need_step_up" if bound and level == "step_up" else "utter_need_verification"
    )
    return [
        SlotSet("pending_request", request),
        # What the customer said, for the action that resumes after verification
        # (its latest message is then the code).
        SlotSet("pending_text", latest_text(tracker)),
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
    # The request is served in one go (no form follows), so a second request in the
    # same message can be taken up right after.
    one_step: bool = True

    def name(self) -> str:
        return f"action_{self.intent}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        token = tracker.get_slot("auth_token")
        if not token:
            return verification_events(dispatcher, tracker, self.intent, "bind")
        if self.sensitive and not is_step_up_fresh(tracker, await bank_time()):
            return verification_events(dispatcher, tracker, self.intent, "step_up")
        try:
            events = await self.perform(dispatcher, tracker, domain, token)
        except VerificationRequired as exc:
            return verification_events(dispatcher, tracker, self.intent, exc.level)
        except ServiceUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return [SlotSet("pending_request", None)]
        also: list[EventType] = []
        if self.one_step:
            also = await second_request(tracker, self.intent, request_text(tracker, self.intent))
        return [SlotSet("pending_request", None), SlotSet("pending_text", None), *events, *also]

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


class TaskFormValidation(FormValidationAction):
    """Validation of a task's form that lets the customer step out of it.

    A message that is not an attempt at the requested slot (a question, a new
    request, a change of mind) is rejected: Rasa's rules answer it and the form asks
    its question again. Only an attempt gets a format error. Other slots of the form
    the same message filled (an amount typed at the payee step) are still taken.
    """

    @abc.abstractmethod
    def name(self) -> str:
        """validate_<form> (abstract here, so rasa_sdk registers only the subclasses)."""

    async def is_answer(self, slot: str, value: Any, tracker: Tracker) -> bool:
        """Whether ``value`` (extracted for the requested ``slot``) tries to answer it."""
        return True

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = tracker.get_slot("requested_slot")
        candidates = tracker.slots_to_validate()
        value = candidates.get(requested) if requested else None
        if value is not None and not await self.is_answer(requested, value, tracker):
            required = await self.required_slots(
                self.domain_slots(domain), dispatcher, tracker, domain
            )
            others = [
                name
                for name, other in candidates.items()
                if name != requested and name in required and other is not None
            ]
            if not others:
                return [SlotSet(requested, None), ActionExecutionRejected(self.form_name())]
            # Validate the rest; the requested slot is asked again without an error.
            _clear_candidate(tracker, requested)
        return await super().run(dispatcher, tracker, domain)


def _clear_candidate(tracker: Tracker, slot: str) -> None:
    """Turns this turn's extracted value of ``slot`` into "nothing extracted"."""
    tracker.slots[slot] = None
    for event in reversed(tracker.events):
        if event.get("event") != "slot":
            break
        if event.get("name") == slot:
            event["value"] = None


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def request_text(tracker: Tracker, intent: str) -> str:
    """The message that asked for ``intent``: the latest one, or the one parked while
    the customer was verified."""
    if tracker.get_slot("pending_request") == intent and tracker.get_slot("pending_text"):
        return str(tracker.get_slot("pending_text"))
    return latest_text(tracker)


def latest_intent(tracker: Tracker) -> str:
    return str((tracker.latest_message.get("intent") or {}).get("name") or "")


def latest_entities(tracker: Tracker, entity: str) -> list[Any]:
    """Values of ``entity`` in the latest user message, in order."""
    return [
        e.get("value")
        for e in tracker.latest_message.get("entities") or []
        if e.get("entity") == entity and e.get("value") not in (None, "")
    ]


# Intents that ask something rather than answer: inside a form they are side
# questions even when the form's free-text slot would take any text.
QUESTION_INTENTS = frozenset(
    {
        "faq", "ask_explain", "help", "bot_challenge", "ask_hotline", "media_inquiry",
        "ask_mortgage", "exchange_rate", "product_inquiry", "find_branch",
        "branch_queue_status", "check_queue_ticket", "ticket_status", "lost_phone",
        "card_retained", "report_fraud", "out_of_scope", "greet", "thank",
    }
)
SIDE_QUESTION_CONFIDENCE = 0.7


def is_side_question(tracker: Tracker) -> bool:
    """The latest message is, with some confidence, a question or another topic."""
    intent = tracker.latest_message.get("intent") or {}
    if str(intent.get("name")) not in QUESTION_INTENTS:
        return False
    return float(intent.get("confidence") or 0.0) >= SIDE_QUESTION_CONFIDENCE


def is_payload(tracker: Tracker) -> bool:
    """The latest message is a button payload ("/intent{...}"), not typed text."""
    return latest_text(tracker).startswith("/")


def redirect(
    tracker: Tracker, intent: str, entities: dict[str, Any] | None = None
) -> list[EventType]:
    """Continue as if the customer had just asked for ``intent`` with ``entities``.

    The rules then serve it as usual (verification and forms included), which an
    action calling another action's code could not do. Rasa fills slots from the
    entities of a user message an action returns.
    """
    values = {k: v for k, v in (entities or {}).items() if v not in (None, "", [])}
    text = f"/{intent}" + (json.dumps(values, ensure_ascii=False) if values else "")
    # A list (several products) is one entity per value, as the NLU would give them.
    said = [
        {"entity": k, "value": item}
        for k, v in values.items()
        for item in (v if isinstance(v, list) else [v])
    ]
    return restate(tracker, intent, text, said)


def restate(
    tracker: Tracker, intent: str, text: str, entities: list[dict[str, Any]] | None = None
) -> list[EventType]:
    """Continue as if the customer had said ``text`` meaning ``intent`` (with the NLU's
    ``entities`` of it): like :func:`redirect`, but the actions still read the
    customer's own words."""
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": list(entities or []),
    }
    return said_next(tracker, text, parse_data, {"redirected_from": latest_intent(tracker)})


def said_next(
    tracker: Tracker, text: str, parse_data: dict[str, Any], metadata: dict[str, Any]
) -> list[EventType]:
    """Events after which Rasa goes on as if the customer had just sent ``text`` read
    as ``parse_data`` (Rasa fills slots from its entities and the rules serve it)."""
    event = UserUttered(text, parse_data=parse_data, input_channel=tracker.get_latest_input_channel())
    event["metadata"] = metadata
    return [ActionExecuted("action_listen"), event]


def context_of(tracker: Tracker) -> dict[str, Any]:
    """What the last answer was about (see the ``context`` slot)."""
    value = tracker.get_slot("context")
    return dict(value) if isinstance(value, dict) else {}


def set_context(topic: str, **values: Any) -> SlotSet:
    return SlotSet("context", {"topic": topic, **{k: v for k, v in values.items() if v is not None}})


def offer(intent: str, **entities: Any) -> SlotSet:
    """Remember a yes/no question just asked: a bare "好的" next turn runs ``intent``."""
    return SlotSet("offer_next", {"intent": intent, "entities": entities})


def fresh_offer(tracker: Tracker) -> dict[str, Any] | None:
    """The offer made in the bot turn right before the latest user message, if any."""
    users = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            users += 1
            if users > 1:
                return None
        elif kind == "slot" and event.get("name") == "offer_next" and users == 1:
            value = event.get("value")
            return dict(value) if isinstance(value, dict) and value.get("intent") else None
    return None


# Placeholders of customer texts (FAQ answers, help texts) filled with the bank's
# own numbers: the sandbox bank is the source of them, not domain/.
PHONE_PLACEHOLDERS = {
    "hotline": "customer_service",
    "card_loss_hotline": "card_loss",
    "credit_card_hotline": "credit_card",
    "mortgage_hotline": "mortgage",
    "vip_hotline": "vip",
}


async def phone_numbers() -> dict[str, str]:
    """{hotline}, {hotline_hours}, {card_loss_hotline} ... from the bank's contacts;
    empty values when the bank cannot be reached (the answer still goes out)."""
    try:
        contacts = {c.code: c for c in await services().support.contacts()}
    except (ServiceUnavailable, NotFound):
        contacts = {}
    values: dict[str, str] = {}
    for placeholder, code in PHONE_PLACEHOLDERS.items():
        contact = contacts.get(code)
        values[placeholder] = (contact.phone or "") if contact else ""
        values[f"{placeholder}_hours"] = contact.hours if contact else ""
    return values


async def waiting_for_staff(tracker: Tracker) -> bool:
    """The chat user asked for a person and nobody has finished with them yet."""
    if not tracker.get_slot("handoff_ticket_id"):
        return False
    try:
        tickets = await services().support.list_tickets(
            tracker.sender_id, channel=channel_of(tracker), kind="handoff"
        )
    except ServiceUnavailable:
        return False
    return any(t.status in ("open", "in_progress") for t in tickets)


# Two requests in one message ("美元汇率多少 还有人广几点关门", "查下余额顺便给李娜转两百"):
# the one the NLU chose is served, then the other half of the message as if sent next.
# "还有/另外/然后" only start a new request after a pause ("钱还有多少" is one request).
_ALSO = re.compile(
    r"(?:(?<=[\s，,。；;！!？?])|^)(?:还有|另外|然后|再|还要|还想)|顺便|顺带|同时|以及|并且|另外再"
)
_EDGE = re.compile(r"^[\s，,。；;！!？?、]+|[\s，,。；;！!？?、]+$")
SECOND_REQUEST_CONFIDENCE = 0.7
# Intents that are answers, small talk or nothing: never a second request of their own.
NOT_A_REQUEST = frozenset(
    {
        "greet", "goodbye", "thank", "affirm", "deny", "cancel", "inform", "nlu_fallback",
        "out_of_scope", "bot_challenge", "ask_explain", "amount", "account_number",
        "urgent_reason", "currency", "payee", "account_type", "card_last4", "time_range",
        "txn_kind", "merchant", "phone", "otp_code", "branch", "area", "service_type",
        "product_type", "product", "term", "risk_answer", "share_location", "complaint_text",
    }
)


def message_halves(text: str) -> tuple[str, str] | None:
    """The message cut at its first joining word into two parts, or None."""
    for match in _ALSO.finditer(text):
        head = _EDGE.sub("", text[: match.start()])
        tail = _EDGE.sub("", text[match.end():])
        if len(head) >= 2 and len(tail) >= 3:
            return head, tail
    return None


def has_second_request(text: str) -> bool:
    """Cheap check (no NLU) that a message may hold a second request."""
    return message_halves(text) is not None


async def second_request(tracker: Tracker, served: str, text: str) -> list[EventType]:
    """Events that go on with the other request of ``text`` once ``served`` is done
    (nothing when the message held one request, or Rasa cannot be asked)."""
    halves = message_halves(text)
    if halves is None or (tracker.active_loop or {}).get("name"):
        # Inside a form the step is asked again; a second request would break into it.
        return []
    for part in (halves[1], halves[0]):
        try:
            parsed = await services().rasa.parse(part)
        except RasaError as exc:
            # The first request is served; the second waits for the customer to repeat it.
            log.warning("second request not read: %s", exc)
            return []
        intent = parsed.get("intent") or {}
        name = str(intent.get("name") or "")
        if (
            name != served
            and name not in NOT_A_REQUEST
            and float(intent.get("confidence") or 0.0) >= SECOND_REQUEST_CONFIDENCE
        ):
            return said_next(tracker, part, parsed, {"second_request_of": served})
    return []


class AnswerAction(Action, metaclass=abc.ABCMeta):
    """An answer given in one go (no form follows); a second request in the same
    message is taken up right after. Subclasses implement :meth:`answer`."""

    intent: str = ""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await self.answer(dispatcher, tracker, domain)
        return [*events, *await second_request(tracker, self.intent, latest_text(tracker))]

    @abc.abstractmethod
    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """The answer's events."""
