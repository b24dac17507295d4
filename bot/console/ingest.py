"""Reading Rasa's event stream into the console's tables.

Rasa publishes every tracker event as ``{"sender_id": ..., **event.as_dict()}``: the SQL
broker as one row of its ``events`` table (``id``, ``sender_id``, ``data`` JSON text),
the pika broker as one persistent message on a durable RabbitMQ queue bound to the
fanout exchange ``rasa-exchange``. An :class:`EventSource` hands out batches of these
dicts, the :class:`Projector` applies one batch to conversations, messages and handoffs
in one transaction (with the SQL cursor), and only then the batch is acknowledged:
the SQL cursor moves on, RabbitMQ messages are acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from aiohttp import web
from sqlalchemy import Integer, String, Text, column, create_engine, inspect, select, table
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.nlu.pii import PHONE, find_pii, mask_pii, mask_value
from bot.settings import Settings

from . import search
from .db import run
from .keys import EXECUTOR_KEY, SESSIONS_KEY, SETTINGS_KEY
from .labels import button_title, get_labels, payload_text
from .models import ComplaintTicket, Conversation, Handoff, IngestCursor, Message
from .tasks import TaskState

logger = logging.getLogger(__name__)

RASA_EXCHANGE = "rasa-exchange"  # rasa.core.brokers.pika.RABBITMQ_EXCHANGE
SQL_CURSOR = "sql:events"

# Actions that put the conversation in the staff queue, and why.
HANDOFF_ACTIONS = {
    "action_human_handoff": "human_handoff",
    "action_submit_complaint": "complaint",
    # The second stage of the two-stage fallback failed too (also Rasa's core fallback).
    "action_default_fallback": "fallback",
}
# The contract with the bot's actions (names fixed): an urgent handoff is
# action_human_handoff with the slot ``urgent_reason`` set to a code (fraud,
# stolen_card, disputed_transfer): set before the action (this turn or still set), or
# after it in the same turn (before the customer's next message);
# ``handoff_ticket_id`` is the bank's ticket of the handoff; ``complaint_ticket_id`` is
# set by action_submit_complaint to the ticket's id (again the same id when details
# are added to an existing ticket).
HANDOFF_ACTION = "action_human_handoff"
URGENT_SLOT = "urgent_reason"
HANDOFF_TICKET_SLOT = "handoff_ticket_id"
COMPLAINT_TICKET_SLOT = "complaint_ticket_id"
OPEN_HANDOFF_STATUSES = ("waiting", "taken")
FALLBACK_INTENTS = {"nlu_fallback"}
FALLBACK_ACTIONS = {"action_two_stage_fallback", "action_default_fallback"}
COMPLAINT_INTENTS = {"complain"}
COMPLAINT_ACTIONS = {"action_submit_complaint"}
# Slots whose values never leave the tracker: the bank session token.
SECRET_SLOTS = {"auth_token"}
# Bookkeeping slots that say nothing about the customer's task.
INTERNAL_SLOTS = {"requested_slot", "otp_requested"}
# Other events shown in the transcript (as kind "event").
NOTABLE_EVENTS = {"session_started", "pause", "resume", "restart", "active_loop", "reset_slots"}
ACTIVE_STATUSES = {"waiting", "staff"}
RANKING_SIZE = 5
BOT_DATA_KEYS = ("buttons", "quick_replies", "elements", "image", "attachment", "custom")


@dataclass
class ApplyResult:
    """What one applied batch changed."""

    events: int = 0
    conversation_ids: set[int] = field(default_factory=set)
    new_conversation_ids: set[int] = field(default_factory=set)
    handoff_ids: list[int] = field(default_factory=list)
    position: int | None = None


def mask_name(name: str) -> str:
    """``张三`` -> ``张*``: the surname stays, the given name is hidden."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if name else ""


def masked_phone(value: Any) -> str | None:
    """The first mobile number in ``value`` masked (``138****8000``), or ``None``."""
    if not isinstance(value, str):
        return None
    for start, end, kind in find_pii(value):
        if kind == PHONE:
            return mask_value(PHONE, value[start:end])
    return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return str(value)[:limit]


@dataclass
class _Batch:
    """What one ``apply`` call has seen: its session, the open handoff of each
    conversation (created in this batch or loaded), the complaint tickets added."""

    session: Session
    open_handoffs: dict[int, Handoff | None] = field(default_factory=dict)
    new_handoffs: list[Handoff] = field(default_factory=list)
    tickets: set[str] = field(default_factory=set)


class Projector:
    """Applies Rasa events to the console's tables (pure logic over one session)."""

    def __init__(self, settings: Settings) -> None:
        self.low_confidence = settings.low_confidence_threshold

    def apply(
        self,
        session: Session,
        events: Sequence[dict[str, Any]],
        *,
        cursor: tuple[str, int] | None = None,
    ) -> ApplyResult:
        """Apply ``events`` (in order) and move ``cursor`` (source, position), in ``session``."""
        result = ApplyResult(events=len(events))
        senders = sorted({str(e["sender_id"]) for e in events if e.get("sender_id")})
        conversations = self._conversations(session, senders, events, result)
        states = {sender: _State.load(conv.state) for sender, conv in conversations.items()}
        messages: list[tuple[Conversation, Message]] = []
        batch = _Batch(session)
        for event in events:
            sender = event.get("sender_id")
            if not sender:
                continue
            conv = conversations[str(sender)]
            ts = _float(event.get("timestamp")) or time.time()
            conv.started_at = min(conv.started_at, ts)
            conv.last_at = max(conv.last_at, ts)
            message = self._apply_one(batch, conv, states[str(sender)], event, ts)
            if message is not None:
                messages.append((conv, message))
            result.conversation_ids.add(conv.id)
        for sender, conv in conversations.items():
            conv.flagged = bool(
                conv.flag_fallback
                or conv.flag_complaint
                or conv.flag_low_confidence
                or conv.urgent_reason
            )
            conv.state = states[sender].dump()
        handoffs = batch.new_handoffs
        session.add_all([message for _, message in messages])
        session.add_all(handoffs)
        session.flush()
        for conv, message in messages:
            if message.kind in ("user", "bot", "staff") and message.text:
                search.index_message(session, conv.id, message.id, message.text)
        result.handoff_ids = [handoff.id for handoff in handoffs]
        if cursor is not None:
            source, position = cursor
            row = session.get(IngestCursor, source)
            if row is None:
                session.add(IngestCursor(source=source, position=position))
            else:
                row.position = position
            result.position = position
        return result

    def _conversations(
        self,
        session: Session,
        senders: list[str],
        events: Sequence[dict[str, Any]],
        result: ApplyResult,
    ) -> dict[str, Conversation]:
        found = {
            conv.sender_id: conv
            for conv in session.execute(
                select(Conversation).where(Conversation.sender_id.in_(senders))
            ).scalars()
        }
        first_ts: dict[str, float] = {}
        for event in events:
            sender = str(event.get("sender_id") or "")
            if sender and sender not in first_ts:
                first_ts[sender] = _float(event.get("timestamp")) or time.time()
        new = []
        for sender in senders:
            if sender not in found:
                conv = Conversation(
                    sender_id=sender,
                    channel="",
                    customer_label="",
                    started_at=first_ts[sender],
                    last_at=first_ts[sender],
                    status="bot",
                    flag_fallback=False,
                    flag_complaint=False,
                    flag_low_confidence=False,
                    flagged=False,
                    fallback_count=0,
                    message_count=0,
                    reviewed=False,
                    state={},
                )
                found[sender] = conv
                new.append(conv)
        if new:
            session.add_all(new)
            session.flush()
            result.new_conversation_ids.update(conv.id for conv in new)
        return found

    def _apply_one(
        self, batch: _Batch, conv: Conversation, state: _State, event: dict[str, Any], ts: float
    ) -> Message | None:
        kind = event.get("event")
        if kind == "user":
            return self._user(conv, state, event, ts)
        if kind == "bot":
            return self._bot(conv, state, event, ts)
        if kind == "action":
            return self._action(batch, conv, state, event, ts)
        if kind == "slot":
            return self._slot(batch, conv, state, event, ts)
        if kind in NOTABLE_EVENTS:
            return self._notable(conv, state, event, ts)
        return None

    def _user(self, conv: Conversation, state: _State, event: dict[str, Any], ts: float) -> Message:
        parse = event.get("parse_data") or {}
        intent_data = parse.get("intent") or {}
        intent = _str(intent_data.get("name"), 128)
        confidence = _float(intent_data.get("confidence"))
        channel = _str(event.get("input_channel"), 32)
        if channel:
            conv.channel = channel
        if conv.status == "closed":
            conv.status = "bot"
        conv.message_count = (conv.message_count or 0) + 1
        # A new turn: where the customer was when writing it, and nothing urgent yet.
        state.task_at_user = state.task.copy()
        state.turn_handoff, state.turn_urgent, state.turn_ticket = False, None, None
        if intent:
            conv.last_intent = intent
            conv.last_confidence = confidence
        if intent in FALLBACK_INTENTS:
            conv.flag_fallback = True
            conv.fallback_count = (conv.fallback_count or 0) + 1
        elif intent and confidence is not None and confidence < self.low_confidence:
            conv.flag_low_confidence = True
        if intent in COMPLAINT_INTENTS:
            conv.flag_complaint = True
        text = str(event.get("text") or "")
        title = button_title(text, state.buttons)
        shown = title or payload_text(text, state.buttons, get_labels()) or text
        state.last_text = mask_pii(shown)[:200]
        ranking = [
            {"name": item.get("name"), "confidence": _float(item.get("confidence"))}
            for item in (parse.get("intent_ranking") or [])[:RANKING_SIZE]
            if isinstance(item, dict)
        ]
        data: dict[str, Any] = {
            "entities": parse.get("entities") or [],
            "intent_ranking": ranking,
            "input_channel": channel,
            "message_id": event.get("message_id") or parse.get("message_id"),
        }
        retrieval = self._retrieval_intent(parse, intent)
        if retrieval:
            data["retrieval_intent"] = retrieval
        if title:
            data["button_title"] = title  # the customer clicked a button: its payload is text
        return Message(
            conversation_id=conv.id,
            ts=ts,
            kind="user",
            text=event.get("text"),
            intent=intent,
            confidence=confidence,
            data=data,
            channel=channel or conv.channel or None,
        )

    @staticmethod
    def _retrieval_intent(parse: dict[str, Any], intent: str | None) -> str | None:
        """``faq/opening_account`` for a retrieval intent answered by the ResponseSelector."""
        selector = (parse.get("response_selector") or {}).get(intent or "") or {}
        response = selector.get("response") or {}
        key = response.get("intent_response_key")
        return str(key) if key else None

    def _bot(
        self, conv: Conversation, state: _State, event: dict[str, Any], ts: float
    ) -> Message:
        metadata = event.get("metadata") or {}
        payload = event.get("data") or {}
        data: dict[str, Any] = {key: payload[key] for key in BOT_DATA_KEYS if payload.get(key)}
        if metadata.get("utter_action"):
            data["utter_action"] = metadata["utter_action"]
        staff = metadata.get("staff")
        offered = [
            {"title": b.get("title"), "payload": b.get("payload")}
            for b in [*(payload.get("buttons") or []), *(payload.get("quick_replies") or [])]
            if isinstance(b, dict) and b.get("payload")
        ]
        if offered and not staff:
            state.buttons = offered[:20]
        conv.message_count = (conv.message_count or 0) + 1
        return Message(
            conversation_id=conv.id,
            ts=ts,
            kind="staff" if staff else "bot",
            text=event.get("text"),
            data=data,
            author=_str(staff, 64) if staff else None,
            channel=conv.channel or None,
        )

    def _action(
        self, batch: _Batch, conv: Conversation, state: _State, event: dict[str, Any], ts: float
    ) -> Message | None:
        name = event.get("name")
        if not name or name == "action_listen":
            return None
        if name in FALLBACK_ACTIONS:
            conv.flag_fallback = True
            if name == "action_default_fallback":
                conv.fallback_count = (conv.fallback_count or 0) + 1
        if name in COMPLAINT_ACTIONS:
            conv.flag_complaint = True
        message = Message(
            conversation_id=conv.id,
            ts=ts,
            kind="action",
            text=None,
            confidence=_float(event.get("confidence")),
            data={"name": name, "policy": event.get("policy")},
            channel=conv.channel or None,
        )
        reason = HANDOFF_ACTIONS.get(name)
        if reason is None:
            return message
        if name == HANDOFF_ACTION:
            state.turn_handoff = True
        handoff = self._open_handoff(batch, conv)
        if handoff is None and conv.status not in ACTIVE_STATUSES:
            # One open handoff per conversation: a new one only when none waits or is taken.
            conv.status = "waiting"
            handoff = Handoff(
                conversation_id=conv.id,
                reason=reason,
                requested_at=ts,
                summary=self.summary(conv, state, ts),
                status="waiting",
            )
            batch.open_handoffs[conv.id] = handoff
            batch.new_handoffs.append(handoff)
        elif handoff is not None and handoff.status == "waiting" and conv.status == "bot":
            conv.status = "waiting"  # a waiting request belongs in the queue
        if name == HANDOFF_ACTION:
            # Set this turn (before the action), or still set from earlier: the action
            # itself reads the slot, so the bank's ticket is urgent then too.
            urgent = state.turn_urgent or state.slots.get(URGENT_SLOT)
            if urgent:
                self._mark_urgent(conv, handoff, str(urgent)[:32], ts)
            if state.turn_ticket and handoff is not None and not handoff.ticket_id:
                handoff.ticket_id = state.turn_ticket
        return message

    @staticmethod
    def _open_handoff(batch: _Batch, conv: Conversation) -> Handoff | None:
        """The conversation's waiting or taken handoff (this batch's or the database's)."""
        if conv.id not in batch.open_handoffs:
            batch.open_handoffs[conv.id] = batch.session.execute(
                select(Handoff)
                .where(
                    Handoff.conversation_id == conv.id,
                    Handoff.status.in_(OPEN_HANDOFF_STATUSES),
                )
                .order_by(Handoff.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        return batch.open_handoffs[conv.id]

    @staticmethod
    def _mark_urgent(conv: Conversation, handoff: Handoff | None, code: str, ts: float) -> None:
        """Make the handoff urgent (an urgent one stays as it is) and flag the conversation."""
        if handoff is not None and not handoff.urgent_reason:
            handoff.urgent_reason, handoff.urgent_at = code, ts
        conv.urgent_reason = (handoff.urgent_reason if handoff is not None else None) or code

    def _complaint_ticket(
        self, batch: _Batch, conv: Conversation, ticket_id: str, ts: float
    ) -> None:
        """Count a complaint ticket once, however often its id is set again."""
        conv.flag_complaint = True
        if ticket_id in batch.tickets:
            return
        batch.tickets.add(ticket_id)
        known = batch.session.execute(
            select(ComplaintTicket.id).where(ComplaintTicket.ticket_id == ticket_id)
        ).first()
        if known is None:
            batch.session.add(
                ComplaintTicket(ticket_id=ticket_id, conversation_id=conv.id, created_at=ts)
            )

    def _slot(
        self, batch: _Batch, conv: Conversation, state: _State, event: dict[str, Any], ts: float
    ) -> Message:
        name = str(event.get("name") or "")
        value = event.get("value")
        data: dict[str, Any] = {"name": name, "value": value}
        if name in SECRET_SLOTS:
            data = {"name": name, "value": None, "redacted": value is not None}
            state.authenticated = value is not None
        else:
            state.set_slot(name, value)
        state.task.apply(event, conv.last_intent)
        if name == URGENT_SLOT and value:
            state.turn_urgent = str(value)[:32]
            if state.turn_handoff:  # set after the action, in the same turn
                self._mark_urgent(conv, self._open_handoff(batch, conv), state.turn_urgent, ts)
        elif name == HANDOFF_TICKET_SLOT and value:
            state.turn_ticket = str(value)[:64]
            handoff = self._open_handoff(batch, conv) if state.turn_handoff else None
            if handoff is not None and not handoff.ticket_id:
                handoff.ticket_id = state.turn_ticket
        elif name == COMPLAINT_TICKET_SLOT and value:
            self._complaint_ticket(batch, conv, str(value)[:64], ts)
        if name == "customer_id":
            conv.customer_id = _str(value, 64)
        if name == "phone":
            state.phone_masked = masked_phone(value) or state.phone_masked
        if name in ("customer_name", "phone", "customer_id"):
            conv.customer_label = self.customer_label(state)
        return Message(
            conversation_id=conv.id, ts=ts, kind="slot", data=data, channel=conv.channel or None
        )

    def _notable(
        self, conv: Conversation, state: _State, event: dict[str, Any], ts: float
    ) -> Message:
        kind = str(event.get("event"))
        data: dict[str, Any] = {"event": kind}
        if kind == "active_loop":
            state.active_loop = event.get("name")
            data["name"] = event.get("name")
            state.task.apply(event, conv.last_intent)
        elif kind in ("session_started", "restart", "reset_slots"):
            # Rasa clears the tracker's slots; carried-over slots follow as SlotSet events.
            state.slots = {}
            state.authenticated = False
            state.task.slots = {}
            if kind != "reset_slots":
                state.active_loop = None
                state.task = TaskState()
                state.task_at_user = TaskState()
                state.buttons = []
                state.turn_handoff, state.turn_urgent, state.turn_ticket = False, None, None
        return Message(
            conversation_id=conv.id, ts=ts, kind="event", data=data, channel=conv.channel or None
        )

    @staticmethod
    def customer_label(state: _State) -> str:
        """Masked name and phone, e.g. ``张* 138****8000`` (empty while anonymous)."""
        name = state.slots.get("customer_name")
        parts = [mask_name(str(name))] if name else []
        if state.phone_masked:
            parts.append(state.phone_masked)
        return " ".join(part for part in parts if part)[:64]

    @staticmethod
    def verification(state: _State, ts: float) -> str:
        """``none``, ``bound`` or ``step_up`` (a fresh one-time code) at time ``ts``."""
        if not state.slots.get("customer_id"):
            return "none"
        until = _float(state.slots.get("step_up_until"))
        if state.authenticated and until is not None and until > ts:
            return "step_up"
        return "bound"

    def summary(self, conv: Conversation, state: _State, ts: float) -> dict[str, Any]:
        """What staff need to pick the conversation up: intent, slots, verification, task."""
        slots = {
            name: mask_pii(value) if isinstance(value, str) else value
            for name, value in state.slots.items()
            if value is not None and name not in SECRET_SLOTS | INTERNAL_SLOTS
        }
        return {
            "last_intent": conv.last_intent,
            "slots": slots,
            "verified": self.verification(state, ts),
            # The task of the form active when the customer wrote the message that made
            # the bot ask for a person (bot/console/tasks.py): an intent name.
            "interrupted": state.task_at_user.task(),
            "last_message": state.last_text,
        }


@dataclass
class _State:
    """A conversation's dialogue state between batches (the ``Conversation.state`` column)."""

    slots: dict[str, Any] = field(default_factory=dict)
    active_loop: str | None = None
    phone_masked: str | None = None
    authenticated: bool = False
    last_text: str | None = None
    # The task (form and task slots) now and when the customer last wrote.
    task: TaskState = field(default_factory=TaskState)
    task_at_user: TaskState = field(default_factory=TaskState)
    # Buttons of the latest bot message that had some (a click arrives as its payload).
    buttons: list[dict[str, Any]] = field(default_factory=list)
    # Since the customer's last message: a handoff action ran, urgent_reason and
    # handoff_ticket_id were set (either order belongs to the same handoff).
    turn_handoff: bool = False
    turn_urgent: str | None = None
    turn_ticket: str | None = None

    @classmethod
    def load(cls, raw: Any) -> _State:
        raw = raw if isinstance(raw, dict) else {}
        buttons = raw.get("buttons")
        return cls(
            slots=dict(raw.get("slots") or {}),
            active_loop=raw.get("active_loop"),
            phone_masked=raw.get("phone_masked"),
            authenticated=bool(raw.get("authenticated")),
            last_text=raw.get("last_text"),
            task=TaskState.load(raw.get("task")),
            task_at_user=TaskState.load(raw.get("task_at_user")),
            buttons=[b for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else [],
            turn_handoff=bool(raw.get("turn_handoff")),
            turn_urgent=raw.get("turn_urgent"),
            turn_ticket=raw.get("turn_ticket"),
        )

    def dump(self) -> dict[str, Any]:
        """A fresh dict (so SQLAlchemy sees the JSON column change)."""
        return {
            "slots": dict(self.slots),
            "active_loop": self.active_loop,
            "phone_masked": self.phone_masked,
            "authenticated": self.authenticated,
            "last_text": self.last_text,
            "task": self.task.dump(),
            "task_at_user": self.task_at_user.dump(),
            "buttons": list(self.buttons),
            "turn_handoff": self.turn_handoff,
            "turn_urgent": self.turn_urgent,
            "turn_ticket": self.turn_ticket,
        }

    def set_slot(self, name: str, value: Any) -> None:
        if value is None:
            self.slots.pop(name, None)
        else:
            self.slots[name] = value


# --- event sources -------------------------------------------------------------------


@dataclass
class EventBatch:
    """Events read from a source, not yet acknowledged."""

    events: list[dict[str, Any]]
    read: int = 0  # rows or messages read, including ones that were not events
    position: int | None = None  # SQL: the last row id; None for RabbitMQ
    messages: list[AbstractIncomingMessage] = field(default_factory=list)


class EventSource(Protocol):
    """Where Rasa's events come from."""

    name: str

    async def open(self, position: int) -> None:
        """Connect; ``position`` is the persisted cursor (ignored by queue sources)."""

    async def fetch(self) -> EventBatch:
        """The next events (may be empty after waiting up to about one poll interval)."""

    async def ack(self, batch: EventBatch) -> None:
        """The batch is committed: never hand it out again."""

    async def close(self) -> None:
        """Release connections."""


def _decode(raw: Any, sender_id: Any = None) -> dict[str, Any] | None:
    """One broker payload as an event dict, or ``None`` (logged) when it is not one."""
    try:
        event = json.loads(raw)
    except (TypeError, ValueError):
        logger.warning("skipping an event that is not JSON: %.80r", raw)
        return None
    if not isinstance(event, dict):
        logger.warning("skipping an event that is not a JSON object: %.80r", raw)
        return None
    if sender_id and not event.get("sender_id"):
        event["sender_id"] = sender_id
    return event


_EVENTS = table(
    "events",
    column("id", Integer),
    column("sender_id", String),
    column("data", Text),
)


class SqlEventSource:
    """Tails the ``events`` table of Rasa's SQL event broker by id."""

    name = SQL_CURSOR

    def __init__(
        self,
        events_db_url: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.3,
        executor: Executor | None = None,
        gap_wait: float = 2.0,
    ) -> None:
        self.url = events_db_url
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.executor = executor
        # On servers ids can commit out of order; a gap is waited for this long.
        self.gap_wait = gap_wait
        self.position = 0
        self._engine: Engine | None = None
        self._table_ready = False
        self._gap_since: float | None = None

    def _sqlite_file(self) -> Path | None:
        url = make_url(self.url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database).expanduser()

    def _get_engine(self) -> Engine:
        if self._engine is None:
            url = make_url(self.url)
            kwargs: dict[str, Any] = {"future": True}
            if url.get_backend_name() == "sqlite":
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                kwargs["pool_pre_ping"] = True
            self._engine = create_engine(self.url, **kwargs)
        return self._engine

    def _ready(self) -> bool:
        """True once the broker's table exists (Rasa may start after the console)."""
        if self._table_ready:
            return True
        sqlite_file = self._sqlite_file()
        if sqlite_file is not None and not sqlite_file.exists():
            return False  # do not create Rasa's database file ourselves
        self._table_ready = inspect(self._get_engine()).has_table("events")
        return self._table_ready

    def _max_id(self) -> int:
        with self._get_engine().connect() as conn:
            return int(
                conn.execute(select(_EVENTS.c.id).order_by(_EVENTS.c.id.desc()).limit(1)).scalar()
                or 0
            )

    def _read(self) -> list[Any]:
        if not self._ready():
            return []
        with self._get_engine().connect() as conn:
            return list(
                conn.execute(
                    select(_EVENTS.c.id, _EVENTS.c.sender_id, _EVENTS.c.data)
                    .where(_EVENTS.c.id > self.position)
                    .order_by(_EVENTS.c.id)
                    .limit(self.batch_size)
                )
            )

    async def open(self, position: int) -> None:
        self.position = position
        loop = asyncio.get_running_loop()
        if position and await loop.run_in_executor(self.executor, self._ready):
            newest = await loop.run_in_executor(self.executor, self._max_id)
            if newest < position:
                logger.warning(
                    "events table restarted (newest id %s < cursor %s): reading from the start",
                    newest,
                    position,
                )
                self.position = 0

    def _contiguous(self, rows: list[Any]) -> list[Any]:
        """Rows up to the first id gap, unless the gap has lasted ``gap_wait`` (servers only)."""
        if self._get_engine().dialect.name == "sqlite" or not rows:
            return rows
        expected = self.position + 1
        for index, row in enumerate(rows):
            if row.id != expected:
                if index:
                    return rows[:index]
                now = time.monotonic()
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since < self.gap_wait:
                    return []
                break
            expected += 1
        self._gap_since = None
        return rows

    async def fetch(self) -> EventBatch:
        loop = asyncio.get_running_loop()
        rows = self._contiguous(await loop.run_in_executor(self.executor, self._read))
        if not rows:
            await asyncio.sleep(self.poll_interval)
            return EventBatch([])
        events = [event for row in rows if (event := _decode(row.data, row.sender_id))]
        return EventBatch(events, read=len(rows), position=int(rows[-1].id))

    async def ack(self, batch: EventBatch) -> None:
        if batch.position is not None:
            self.position = batch.position

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class RabbitEventSource:
    """Consumes the durable queue Rasa's pika broker publishes to (acked after commit)."""

    def __init__(
        self,
        url: str,
        queue: str,
        *,
        batch_size: int = 500,
        batch_wait: float = 0.1,
        poll_interval: float = 0.3,
        exchange: str = RASA_EXCHANGE,
    ) -> None:
        self.url = url
        self.queue_name = queue
        self.name = f"rabbitmq:{queue}"[:64]
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.poll_interval = poll_interval
        self.exchange_name = exchange
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._consumer_tag: str | None = None

    async def open(self, position: int) -> None:
        self._connection = await aio_pika.connect_robust(self.url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.batch_size)
        # Declared like Rasa does (fanout exchange, durable queue bound to it), so
        # events published while the console is down wait in the queue.
        exchange = await channel.declare_exchange(
            self.exchange_name, type=aio_pika.ExchangeType.FANOUT
        )
        queue = await channel.declare_queue(self.queue_name, durable=True)
        await queue.bind(exchange, "")
        self._consumer_tag = await queue.consume(self._inbox.put)

    async def fetch(self) -> EventBatch:
        try:
            first = await asyncio.wait_for(self._inbox.get(), self.poll_interval)
        except asyncio.TimeoutError:
            return EventBatch([])
        messages = [first]
        deadline = asyncio.get_running_loop().time() + self.batch_wait
        while len(messages) < self.batch_size:
            if self._inbox.empty():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    messages.append(await asyncio.wait_for(self._inbox.get(), remaining))
                except asyncio.TimeoutError:
                    break
            else:
                messages.append(self._inbox.get_nowait())
        events = [event for message in messages if (event := _decode(message.body))]
        return EventBatch(events, read=len(messages), messages=messages)

    async def ack(self, batch: EventBatch) -> None:
        for message in batch.messages:
            try:
                await message.ack()
            except aio_pika.exceptions.ChannelInvalidStateError:
                # The channel was lost after the commit; RabbitMQ delivers the
                # message again (at-least-once), retrying the ack cannot succeed.
                logger.warning("could not ack an event (channel closed); it will be redelivered")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


# --- the worker ----------------------------------------------------------------------


def make_source(settings: Settings, executor: Executor | None = None) -> EventSource | None:
    """The source ``settings.event_source`` names (``None`` for ``"none"``)."""
    kind = settings.event_source.strip().lower()
    if kind == "sql":
        return SqlEventSource(
            settings.events_db_url,
            batch_size=settings.ingest_batch_size,
            poll_interval=settings.ingest_poll_seconds,
            executor=executor,
        )
    if kind == "rabbitmq":
        return RabbitEventSource(
            settings.rabbitmq_url,
            settings.rabbitmq_queue,
            batch_size=settings.ingest_batch_size,
            poll_interval=settings.ingest_poll_seconds,
        )
    if kind in ("none", "off", ""):
        return None
    raise ValueError(f"unknown CONSOLE_EVENT_SOURCE {settings.event_source!r}")


Listener = Callable[[ApplyResult], Any]
RETRYABLE = (SQLAlchemyError, OSError, aio_pika.exceptions.AMQPError, asyncio.TimeoutError)


class IngestWorker:
    """Runs one event source into the console database until stopped."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker,
        executor: Executor | None,
        *,
        source: EventSource | None = None,
        projector: Projector | None = None,
        retry_max_seconds: float = 10.0,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.executor = executor
        self.source = source if source is not None else make_source(settings, executor)
        self.projector = projector or Projector(settings)
        self.retry_max_seconds = retry_max_seconds
        self.listeners: list[Listener] = []
        self.applied = 0  # events applied since start
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(result)`` after every committed batch (may be a coroutine function)."""
        self.listeners.append(listener)

    async def start(self) -> None:
        """Start the background loop (returns at once; connecting happens in the loop)."""
        if self.source is None or self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name=f"ingest {self.source.name}")
        self._task.add_done_callback(self._log_crash)

    async def stop(self) -> None:
        """Stop the loop and close the source."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.source is not None:
            await self.source.close()

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until the source has no more events right now (for tests and tools)."""
        self._idle.clear()
        await asyncio.wait_for(self._idle.wait(), timeout)

    @staticmethod
    def _log_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("event ingestion stopped", exc_info=task.exception())

    def _load_position(self, session: Session) -> int:
        assert self.source is not None
        row = session.get(IngestCursor, self.source.name)
        return int(row.position) if row else 0

    async def _run(self) -> None:
        assert self.source is not None
        delay = 0.5
        while True:
            try:
                position = await run(self.sessions, self.executor, self._load_position)
                await self.source.open(position)
                break
            except RETRYABLE as exc:
                logger.warning("cannot open event source %s: %s", self.source.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)
        delay = 0.5
        batch: EventBatch | None = None
        while True:
            try:
                if batch is None:
                    batch = await self.source.fetch()
                if batch.read == 0:
                    batch = None
                    self._idle.set()
                    continue
                result = await self._commit(batch)
                await self.source.ack(batch)
                batch = None
                delay = 0.5
                self.applied += result.events
                await self._notify(result)
            except RETRYABLE as exc:
                # The batch is kept and applied again: nothing is acked before its commit.
                logger.warning("event ingestion failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)

    async def _commit(self, batch: EventBatch) -> ApplyResult:
        assert self.source is not None
        cursor = (self.source.name, batch.position) if batch.position is not None else None
        events = batch.events

        def work(session: Session) -> ApplyResult:
            return self.projector.apply(session, events, cursor=cursor)

        return await run(self.sessions, self.executor, work)

    async def _notify(self, result: ApplyResult) -> None:
        for listener in self.listeners:
            outcome = listener(result)
            if asyncio.iscoroutine(outcome):
                await outcome


INGEST_KEY = web.AppKey("ingest", IngestWorker)


async def ingest_ctx(app: web.Application) -> AsyncIterator[None]:
    """``app.cleanup_ctx`` entry (after the database one): runs the ingest worker.

    Registered twice by mistake, the second entry does nothing.
    """
    if INGEST_KEY in app:
        yield
        return
    worker = IngestWorker(app[SETTINGS_KEY], app[SESSIONS_KEY], app[EXECUTOR_KEY])
    app[INGEST_KEY] = worker
    await worker.start()
    yield
    await worker.stop()
