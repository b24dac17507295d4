"""Live takeover: the waiting queue, take / reply / hand back, and the waiting-time apology.

How it works with Rasa (see :mod:`bot.console.rasa_client`):

* take: the conversation is claimed in the console database with a conditional
  UPDATE (two staff racing: exactly one wins), then Rasa's ``pause`` event silences
  the bot (Rasa still logs the customer's messages, which reach the console through
  the event broker), and the "a person joined" message goes to the customer;
* reply: a ``BotUttered`` with ``metadata.staff`` appended with side effects, so Rasa
  stores it in the tracker (the transcript shows it as a staff message) and sends it
  on the customer's latest channel (web chat over socket.io, WeChat through the
  customer-service API). WeChat allows only a few such messages per customer message,
  within 48 h of it: the WeChat channel keeps that budget and tells the console
  (``RasaClient.wechat_budget``); the panel shows it, and a reply the channel could
  not deliver is refused before anything is written;
* hand back: the "left" message, Rasa's ``resume`` event, then the interrupted task
  is triggered again (``trigger_intent``) so the bot continues where it was.

Customer-facing texts are responses in ``domain/support.yml`` (rendered here, so a
model trained before they were added still works). A background task sends the
apology with the service hours to conversations nobody took within
``settings.handoff_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from ruamel.yaml import YAML
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.nlu.pii import mask_pii
from bot.services.errors import ServiceError
from bot.services.support import SupportClient
from bot.settings import PROJECT_ROOT

from . import audit
from .auth import client_ip, error_response, requires
from .db import read, run
from .keys import EXECUTOR_KEY, SESSIONS_KEY, SETTINGS_KEY, USER_KEY, CurrentUser
from .labels import Labels, get_labels
from .models import Conversation, Handoff, Message
from .queries import CHANNEL_LABELS, cst, cst_iso, label_messages, message_view, preceding_buttons
from .rasa_client import RasaClient, RasaError
from .tasks import NOT_RESUMABLE, TaskState

logger = logging.getLogger(__name__)

T = TypeVar("T")

DOMAIN_DIR = PROJECT_ROOT / "domain"
MAX_REPLY_CHARS = 2000
LIVE_LIMIT = 200  # messages per live-feed poll

# Responses the console sends (texts in domain/support.yml).
JOINED = "utter_staff_joined"
LEFT = "utter_staff_left"
LEFT_RESUME = "utter_staff_left_resume"
TIMEOUT = "utter_handoff_timeout"

CHANNEL_NAMES = CHANNEL_LABELS
VERIFICATION_LABELS = {
    "none": "未验证",
    "anonymous": "未验证",
    "bound": "已绑定账户",
    "bind": "已绑定账户",
    "step_up": "已短信验证（有效期内）",
    "fresh": "已短信验证（有效期内）",
}
# Slots a support person may see in the queue and the takeover panel (masked, in
# this order, with their names from domain/labels.yml); everything else (tokens,
# one-time codes, idempotency keys, coordinates) never leaves the database.
SUMMARY_SLOTS = (
    "customer_name",
    "phone",
    "payee",
    "amount",
    "account_type",
    "card_last4",
    "card_operation",
    "branch",
    "area",
    "service_type",
    "time_range",
    "txn_kind",
    "merchant",
    "product_type",
    "term",
    "currency",
    "complaint_text",
    "pending_request",
)

# Actions after which a conversation asks for a person (the ingest projector
# queues it); the customer message before them marks where the task was interrupted.
HANDOFF_ACTIONS = frozenset(
    {"action_human_handoff", "action_submit_complaint", "action_default_fallback"}
)
BOOKKEEPING_ACTIONS = frozenset({"action_listen", "action_session_start"}) | HANDOFF_ACTIONS

ERRORS = {
    "taken": "该会话已被其他客服接入，或已不在等待队列中。",
    "rasa": "暂时无法连接对话引擎，操作未完成，请稍后重试。",
    "not_yours": "该会话不在您的接待中（可能已被交还或由其他客服接待）。",
    "empty": "回复内容不能为空。",
    "too_long": f"回复内容过长（最多 {MAX_REPLY_CHARS} 字）。",
}

# WeChat's customer-service limits (see bot/channels/wechat/channel.py).
WECHAT_CHANNEL = "wechat"
WECHAT_BUDGET_TIMEOUT = 3.0  # seconds; the panel and the reply must not hang on it
WECHAT_UNKNOWN = "无法确认微信发送额度（暂时连不上微信通道），消息仍会尝试发送。"
WECHAT_NOT_DELIVERED = {  # the channel's reason -> what staff read
    "45015": "微信拒绝发送：客户超过 48 小时没有发消息（或已取消关注），这条消息客户收不到。",
    "45047": "微信拒绝发送：客户回复前可发送的条数已用完，这条消息客户收不到。",
    "no_quota": "微信拒绝发送：客户回复前可发送的条数已用完，这条消息客户收不到。",
}
WECHAT_NOT_CONFIRMED = "微信没有确认收到这条消息，客户可能没有收到，请稍后重试或等客户回复。"


# ---------------------------------------------------------------------------
# customer-facing texts (domain/)


class DomainTexts:
    """Responses of the Rasa domain, rendered the way Rasa fills ``{slot}`` placeholders."""

    _PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

    def __init__(
        self, responses: Mapping[str, list[dict[str, Any]]], labels: Labels | None = None
    ) -> None:
        self.responses = dict(responses)
        self._labels = labels

    @property
    def labels(self) -> Labels:
        """The staff label table (domain/labels.yml)."""
        return self._labels if self._labels is not None else get_labels()

    @classmethod
    def load(cls, domain_dir: Path = DOMAIN_DIR) -> DomainTexts:
        """Read every ``*.yml`` of ``domain_dir`` (safe YAML)."""
        yaml = YAML(typ="safe")
        responses: dict[str, list[dict[str, Any]]] = {}
        for path in sorted(domain_dir.glob("*.yml")):
            data = yaml.load(path.read_text(encoding="utf-8")) or {}
            for name, variations in (data.get("responses") or {}).items():
                responses[str(name)] = [v for v in variations or [] if isinstance(v, dict)]
        return cls(responses)

    def text(self, name: str, **values: Any) -> str:
        """The first variation of response ``name`` with ``{placeholders}`` filled."""
        variations = self.responses.get(name)
        if not variations or not variations[0].get("text"):
            raise KeyError(f"response {name} (with a text) is missing from the domain")
        template = str(variations[0]["text"])
        return self._PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), template)

    def intent_label(self, intent: str | None) -> str:
        """The name of a task as customers read it (its ``utter_title_<intent>`` response,
        the wording the bot's own buttons use), else the staff label table's."""
        if not intent:
            return ""
        variations = self.responses.get(f"utter_title_{intent}")
        if variations and variations[0].get("text"):
            return str(variations[0]["text"])
        return self.labels.task(intent)


# ---------------------------------------------------------------------------
# where the bot was interrupted (from Rasa's tracker events)


def interrupted_task(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The intent of the task a takeover interrupted, or ``None``.

    The point of interruption is the customer message that made the bot ask for a
    person (the last message before a handoff action), unless the bot went on
    working after it; otherwise (a proactive takeover) it is the state when the
    conversation was paused. The task comes from the form active at that point
    (bot/console/tasks.py: transfer_form is transfer_money, card_form the
    ``card_operation``, verify_form the request parked in ``pending_request``...), not
    from the customer's last intent (after a verification that is the code's
    ``inform``). Only events up to the last ``pause`` count; a new session or a
    restart forgets everything before it.
    """
    listed = list(events)
    last_pause = max((i for i, e in enumerate(listed) if e.get("event") == "pause"), default=None)
    if last_pause is not None:
        listed = listed[:last_pause]
    state = TaskState()
    at_user = TaskState()
    handoff: TaskState | None = None
    last_intent: str | None = None
    user_after_handoff = False
    for event in listed:
        kind = event.get("event")
        if kind in ("session_started", "restart"):
            state, at_user, handoff, last_intent = TaskState(), TaskState(), None, None
        elif kind == "user":
            at_user = state.copy()
            last_intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            user_after_handoff = handoff is not None
        elif kind in ("active_loop", "slot"):
            state.apply(event, last_intent)
        elif kind == "action":
            name = event.get("name")
            if name in HANDOFF_ACTIONS:
                handoff, user_after_handoff = at_user.copy(), False
            elif name not in BOOKKEEPING_ACTIONS and user_after_handoff:
                handoff = None  # the bot went on serving the customer after the request
    task = (handoff or state).task()
    if task is None or task in NOT_RESUMABLE:
        return None
    return task


# ---------------------------------------------------------------------------
# database units of work


@dataclass
class Claim:
    """Result of a claim: ``ok`` or why not; what to undo if Rasa then fails."""

    ok: bool
    reason: str = ""
    sender_id: str = ""
    previous_status: str = ""
    handoff_id: int | None = None
    created_handoff: bool = False
    previous_holder: int | None = None
    taken_by: str | None = None
    channel: str = ""


def _latest_handoff(session: Session, conversation_id: int, statuses: tuple[str, ...]) -> Handoff | None:
    return session.execute(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(statuses))
        .order_by(Handoff.requested_at.desc(), Handoff.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def claim_conversation(
    session: Session, conversation_id: int, user: CurrentUser, now: float
) -> Claim:
    """Take a waiting (or, proactively, a bot) conversation for ``user``; one winner."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        return Claim(False, "missing")
    previous = conv.status
    won = session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.status.in_(("waiting", "bot")))
        .values(status="staff", assigned_to=user.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        return Claim(False, "taken", sender_id=conv.sender_id)
    handoff = _latest_handoff(session, conversation_id, ("waiting",))
    created = handoff is None
    if handoff is None:
        handoff = Handoff(
            conversation_id=conversation_id,
            reason="proactive",
            requested_at=now,
            summary=None,
            status="taken",
        )
        session.add(handoff)
    handoff.status = "taken"
    handoff.taken_by = user.username
    handoff.taken_at = now
    session.flush()
    return Claim(
        True,
        sender_id=conv.sender_id,
        previous_status=previous,
        handoff_id=handoff.id,
        created_handoff=created,
    )


def undo_claim(session: Session, conversation_id: int, claim: Claim) -> None:
    """Put a claimed conversation back as it was (Rasa could not be paused)."""
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.status == "staff")
        .values(status=claim.previous_status, assigned_to=None)
        .execution_options(synchronize_session=False)
    )
    handoff = session.get(Handoff, claim.handoff_id) if claim.handoff_id else None
    if handoff is None:
        return
    if claim.created_handoff:
        session.delete(handoff)
    else:
        handoff.status, handoff.taken_by, handoff.taken_at = "waiting", None, None


def held_conversation(session: Session, conversation_id: int, user: CurrentUser) -> Claim:
    """The conversation if ``user`` may act on it as its staff member (or is an admin)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        return Claim(False, "missing")
    if conv.status != "staff" or (conv.assigned_to != user.id and not user.is_admin):
        return Claim(False, "not_yours", sender_id=conv.sender_id)
    handoff = _latest_handoff(session, conversation_id, ("taken",))
    return Claim(
        True,
        sender_id=conv.sender_id,
        previous_status=conv.status,
        handoff_id=handoff.id if handoff else None,
        previous_holder=conv.assigned_to,
        taken_by=handoff.taken_by if handoff else None,
        channel=conv.channel or "",
    )


def note_reply(session: Session, handoff_id: int | None, now: float) -> None:
    """Remember when the first staff reply of a handoff went out."""
    if handoff_id is None:
        return
    session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.first_reply_at.is_(None))
        .values(first_reply_at=now)
        .execution_options(synchronize_session=False)
    )


def release_conversation(session: Session, conversation_id: int, claim: Claim) -> bool:
    """Give a held conversation back to the bot (conditional: one hand-back wins)."""
    released = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.status == "staff",
            Conversation.assigned_to == claim.previous_holder,
        )
        .values(status="bot", assigned_to=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return released == 1


def restore_hold(session: Session, conversation_id: int, claim: Claim) -> None:
    """Undo :func:`release_conversation` (Rasa could not be resumed)."""
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.status == "bot")
        .values(status="staff", assigned_to=claim.previous_holder)
        .execution_options(synchronize_session=False)
    )


def finish_handoff(session: Session, handoff_id: int | None, now: float) -> None:
    if handoff_id is None:
        return
    handoff = session.get(Handoff, handoff_id)
    if handoff is not None:
        handoff.status, handoff.returned_at = "returned", now


# ---------------------------------------------------------------------------
# the queue


@dataclass
class SummaryView:
    """A handoff summary as support staff see it (masked, labelled in Chinese)."""

    last_intent: str = ""
    slots: list[tuple[str, str]] = field(default_factory=list)
    verification: str = ""
    interrupted: str = ""
    last_message: str = ""
    interrupted_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "last_intent": self.last_intent,
            "slots": [{"label": label, "value": value} for label, value in self.slots],
            "verification": self.verification,
            "interrupted_task": self.interrupted,
            "interrupted_task_code": self.interrupted_code,
            "last_message": self.last_message,
        }


def _task_code(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("intent") or value.get("name") or value.get("form")
    return str(value) if value else None


def summary_view(
    summary: Any,
    texts: DomainTexts,
    fallback_intent: str | None = None,
    fallback_task: str | None = None,
) -> SummaryView:
    """Render a handoff summary (as the ingest projector writes it: ``last_intent``,
    ``slots``, ``verified``, ``interrupted``, ``last_message``); only the slots of
    :data:`SUMMARY_SLOTS` are shown, masked, with Chinese names and values."""
    labels = texts.labels
    data: Mapping[str, Any] = summary if isinstance(summary, Mapping) else {}
    raw_slots = data.get("slots")
    slots: Mapping[str, Any] = raw_slots if isinstance(raw_slots, Mapping) else {}
    shown = []
    for name in SUMMARY_SLOTS:
        value = slots.get(name)
        if value in (None, "", [], False):
            continue
        shown.append((labels.slot(name), mask_pii(labels.slot_value(name, value))[:80]))
    verification = data.get("verified", data.get("verification"))
    if isinstance(verification, Mapping):
        verification = verification.get("level")
    interrupted = _task_code(data.get("interrupted", data.get("interrupted_task")))
    if not interrupted and not data:
        interrupted = fallback_task  # no summary (a proactive takeover): the task now
    last_message = data.get("last_message")
    return SummaryView(
        last_intent=labels.intent(data.get("last_intent") or fallback_intent),
        slots=shown,
        verification=VERIFICATION_LABELS.get(str(verification), str(verification or "")),
        interrupted=labels.task(interrupted) if interrupted else "",
        interrupted_code=interrupted,
        last_message=mask_pii(str(last_message))[:200] if last_message else "",
    )


def waited(seconds: float) -> str:
    """``3分12秒`` / ``1小时5分``."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}小时{minutes}分"
    if minutes:
        return f"{minutes}分{secs}秒"
    return f"{secs}秒"


@dataclass
class QueueItem:
    conversation_id: int
    channel: str
    customer: str
    reason: str
    requested_at: float
    summary: SummaryView
    now: float
    taken_by: str | None = None
    taken_at: float | None = None
    timeout_notified: bool = False
    urgent_reason: str | None = None
    urgent_at: float | None = None
    ticket_id: str | None = None
    labels: Labels | None = None

    @property
    def _labels(self) -> Labels:
        return self.labels if self.labels is not None else get_labels()

    @property
    def channel_label(self) -> str:
        return CHANNEL_NAMES.get(self.channel, self.channel)

    @property
    def reason_label(self) -> str:
        return self._labels.handoff_reason(self.reason)

    @property
    def urgent(self) -> bool:
        return bool(self.urgent_reason)

    @property
    def urgent_label(self) -> str:
        return self._labels.urgent_reason(self.urgent_reason) if self.urgent_reason else ""

    @property
    def waiting_time(self) -> str:
        return waited(self.now - self.requested_at)

    @property
    def requested(self) -> str:
        return cst(self.requested_at)

    @property
    def taken(self) -> str:
        return cst(self.taken_at)

    def sort_key(self) -> tuple[int, float, int]:
        """Urgent first, then the longest wait first."""
        return (0 if self.urgent else 1, self.requested_at, self.conversation_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "channel_label": self.channel_label,
            "customer": self.customer,
            "reason": self.reason,
            "reason_label": self.reason_label,
            "urgent": self.urgent,
            "urgent_reason": self.urgent_reason,
            "urgent_label": self.urgent_label,
            "ticket_id": self.ticket_id,
            "requested_at": cst_iso(self.requested_at),
            "waiting_seconds": max(0, int(self.now - self.requested_at)),
            "summary": self.summary.to_json(),
            "taken_by": self.taken_by,
            "taken_at": cst_iso(self.taken_at),
            "timeout_notified": self.timeout_notified,
        }


@dataclass
class Queue:
    waiting: list[QueueItem]
    mine: list[QueueItem]
    others: list[QueueItem]  # held by colleagues (shown to admins)

    @property
    def signature(self) -> str:
        """What the queue page's poller compares: ids in order, urgent ones marked."""
        return ",".join(
            f"{item.conversation_id}{'!' if item.urgent else ''}" for item in self.waiting
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "waiting": [item.to_json() for item in self.waiting],
            "mine": [item.to_json() for item in self.mine],
            "others": [item.to_json() for item in self.others],
            "signature": self.signature,
        }


def load_queue(session: Session, user: CurrentUser, texts: DomainTexts, now: float) -> Queue:
    """Waiting conversations (urgent first, then the longest wait) and those held by staff."""
    waiting_rows = session.execute(
        select(Conversation, Handoff)
        .outerjoin(
            Handoff,
            (Handoff.conversation_id == Conversation.id) & (Handoff.status == "waiting"),
        )
        .where(Conversation.status == "waiting")
        .order_by(Handoff.requested_at, Conversation.last_at, Conversation.id)
    ).all()
    waiting: list[QueueItem] = []
    seen: set[int] = set()
    for conv, handoff in waiting_rows:
        if conv.id in seen:
            continue
        seen.add(conv.id)
        waiting.append(_item(conv, handoff, texts, now))
    waiting.sort(key=QueueItem.sort_key)

    held_rows = session.execute(
        select(Conversation, Handoff)
        .outerjoin(
            Handoff,
            (Handoff.conversation_id == Conversation.id) & (Handoff.status == "taken"),
        )
        .where(Conversation.status == "staff")
        .order_by(Handoff.taken_at, Conversation.id)
    ).all()
    mine: list[QueueItem] = []
    others: list[QueueItem] = []
    seen.clear()
    for conv, handoff in held_rows:
        if conv.id in seen:
            continue
        seen.add(conv.id)
        item = _item(conv, handoff, texts, now)
        if conv.assigned_to == user.id:
            mine.append(item)
        elif user.is_admin:
            others.append(item)
    return Queue(waiting, mine, others)


def _item(
    conv: Conversation, handoff: Handoff | None, texts: DomainTexts, now: float
) -> QueueItem:
    return QueueItem(
        conversation_id=conv.id,
        channel=conv.channel,
        customer=conv.customer_label or "",
        reason=handoff.reason if handoff else "human_handoff",
        requested_at=handoff.requested_at if handoff else conv.last_at,
        summary=summary_view(
            handoff.summary if handoff else None,
            texts,
            conv.last_intent,
            TaskState.load(conv.state.get("task") if isinstance(conv.state, dict) else None).task(),
        ),
        now=now,
        taken_by=handoff.taken_by if handoff else None,
        taken_at=handoff.taken_at if handoff else None,
        timeout_notified=bool(handoff and handoff.timeout_notified_at),
        urgent_reason=handoff.urgent_reason if handoff else None,
        urgent_at=handoff.urgent_at if handoff else None,
        ticket_id=handoff.ticket_id if handoff else None,
        labels=texts.labels,
    )


def open_handoff_item(
    session: Session, conversation_id: int, texts: DomainTexts, now: float
) -> QueueItem | None:
    """The conversation's waiting or taken handoff as the queue shows it (for the panel)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.status not in ("waiting", "staff"):
        return None
    handoff = _latest_handoff(session, conversation_id, ("waiting", "taken"))
    if handoff is None:
        return None
    return _item(conv, handoff, texts, now)


def live_messages(
    session: Session, conversation_id: int, after: int, user: CurrentUser
) -> dict[str, Any] | None:
    """Customer, bot and staff messages after message id ``after`` (masked; a clicked
    button shows as its title, never as the raw payload)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        return None
    rows = list(
        session.execute(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.id > after,
                Message.kind.in_(("user", "bot", "staff")),
            )
            .order_by(Message.id)
            .limit(LIVE_LIMIT)
        ).scalars()
    )
    handoff = _latest_handoff(session, conversation_id, ("taken",)) if conv.status == "staff" else None
    cursor = rows[-1].id if rows else after
    if after < 0:  # first poll: only where the feed starts
        latest = session.execute(
            select(Message.id)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        rows, cursor = [], latest or 0
    views = [message_view(row, masked=True) for row in rows]
    if views:
        label_messages(
            views, get_labels(), buttons=preceding_buttons(session, conversation_id, views[0].id)
        )
    return {
        "status": conv.status,
        "holder": handoff.taken_by if handoff else None,
        "mine": conv.status == "staff" and conv.assigned_to == user.id,
        "cursor": cursor,
        "messages": [
            {
                "id": view.id,
                "time": cst_iso(view.ts),
                "kind": view.kind,
                "kind_label": view.kind_label,
                "author": view.author,
                "text": view.shown_text,
                "button": view.button_clicked,  # the title of the button clicked
                "payload": view.is_payload,  # any payload, shown as what it stands for
            }
            for view in views
        ],
    }


# ---------------------------------------------------------------------------
# the waiting-time apology


def claim_due_timeouts(
    session: Session, now: float, timeout_seconds: int
) -> list[tuple[int, str]]:
    """Waiting handoffs older than the timeout, not yet apologised for; marks them."""
    rows = session.execute(
        select(Handoff.id, Conversation.sender_id)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .where(
            Handoff.status == "waiting",
            Handoff.timeout_notified_at.is_(None),
            Handoff.requested_at <= now - timeout_seconds,
            Conversation.status == "waiting",
        )
        .order_by(Handoff.requested_at)
        .limit(50)
    ).all()
    claimed = []
    for handoff_id, sender_id in rows:
        marked = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.timeout_notified_at.is_(None))
            .values(timeout_notified_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if marked == 1:
            claimed.append((handoff_id, sender_id))
    return claimed


def unmark_timeout(session: Session, handoff_id: int) -> None:
    session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id)
        .values(timeout_notified_at=None)
        .execution_options(synchronize_session=False)
    )


async def notify_timeouts(app: web.Application, now: float | None = None) -> int:
    """Send the apology to every waiting conversation past the timeout (once each)."""
    settings = app[SETTINGS_KEY]
    now = time.time() if now is None else now
    due = await _db(
        app, lambda s: claim_due_timeouts(s, now, settings.handoff_timeout_seconds)
    )
    rasa, texts = app[RASA_KEY], app[TEXTS_KEY]
    sent = 0
    for handoff_id, sender_id in due:
        try:
            await rasa.say(sender_id, texts.text(TIMEOUT), {"takeover": "timeout"})
        except RasaError as exc:
            logger.warning("handoff timeout apology not sent (will retry): %s", exc)
            await _db(app, functools.partial(unmark_timeout, handoff_id=handoff_id))
            continue
        sent += 1
    return sent


async def _timeout_loop(app: web.Application) -> None:
    interval = max(0.2, app[SETTINGS_KEY].handoff_check_seconds)
    while True:
        await asyncio.sleep(interval)
        try:
            await notify_timeouts(app)
        except SQLAlchemyError:
            logger.exception("handoff timeout check failed; retrying in %.0f s", interval)


# ---------------------------------------------------------------------------
# WeChat's customer-service budget (the channel's count, shown to staff)


@dataclass(frozen=True)
class WeChatBudget:
    """What the WeChat channel says staff may still send; ``known`` False when it
    could not be asked (the send is then allowed: the channel has the last word)."""

    known: bool
    left: int = 0
    window_open: bool = False
    quota: int = 5
    delivery_seq: int | None = None  # the channel's last delivery to this customer
    delivery_error: str | None = None  # None when it went out

    @property
    def blocked(self) -> bool:
        return self.known and (self.left <= 0 or not self.window_open)

    @property
    def text(self) -> str:
        if not self.known:
            return WECHAT_UNKNOWN
        if self.blocked:
            return (
                "客户在微信里回复之前，微信不允许再发送消息"
                f"（每条客户消息后最多 {self.quota} 条，48 小时内有效）。"
            )
        return f"微信限制：客户回复前还可发送 {self.left} 条。"

    def to_json(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "left": self.left if self.known else None,
            "window_open": self.window_open if self.known else None,
            "blocked": self.blocked,
            "text": self.text,
        }

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WeChatBudget:
        quota = data.get("quota")
        delivery = data.get("last_delivery")
        delivery = delivery if isinstance(delivery, Mapping) else {}
        seq = delivery.get("seq")
        return cls(
            known=True,
            left=max(0, int(data.get("left") or 0)),
            window_open=bool(data.get("window_open")),
            quota=quota if isinstance(quota, int) and quota > 0 else 5,
            delivery_seq=seq if isinstance(seq, int) else None,
            delivery_error=None if delivery.get("ok", True) else str(delivery.get("error") or ""),
        )


async def wechat_budget(app: web.Application, sender_id: str) -> WeChatBudget:
    """Ask the WeChat channel (through Rasa's server) what it may still send."""
    timeout = min(WECHAT_BUDGET_TIMEOUT, app[SETTINGS_KEY].rasa_api_timeout)
    try:
        data = await app[RASA_KEY].wechat_budget(sender_id, timeout=timeout)
    except RasaError as exc:
        logger.warning("WeChat budget of %s*** unknown: %s", sender_id[:6], exc)
        return WeChatBudget(known=False)
    return WeChatBudget.parse(data)


def delivery_warning(before: WeChatBudget, after: WeChatBudget) -> str | None:
    """What staff should know when the channel's delivery of a reply (the one
    after ``before`` was read) failed; None when it went out or nobody can tell."""
    if not (before.known and after.known) or after.delivery_seq is None:
        return None
    if after.delivery_seq == before.delivery_seq or after.delivery_error is None:
        return None
    return WECHAT_NOT_DELIVERED.get(after.delivery_error, WECHAT_NOT_CONFIRMED)


async def panel_context(request: web.Request, conversation: Any) -> dict[str, Any]:
    """Extra context for the takeover panel: the open handoff's summary (urgent reason,
    ticket, interrupted task...) as ``handoff``, and the WeChat budget of a
    conversation the signed-in staff member holds (nothing for other channels)."""
    user = request.get(USER_KEY)
    context: dict[str, Any] = {}
    status = getattr(conversation, "status", None)
    conversation_id = getattr(conversation, "id", None)
    if user is not None and status in ("waiting", "staff") and conversation_id is not None:
        texts = request.app[TEXTS_KEY]
        item = await _read(
            request.app,
            lambda s: open_handoff_item(s, conversation_id, texts, time.time()),
        )
        if item is not None:
            context["handoff"] = item
    if (
        user is None
        or getattr(conversation, "channel", None) != WECHAT_CHANNEL
        or status != "staff"
        or user.role not in ("support", "admin")
        or (getattr(conversation, "assigned_to", None) != user.id and not user.is_admin)
    ):
        return context
    context["wechat_budget"] = await wechat_budget(request.app, conversation.sender_id)
    return context


# ---------------------------------------------------------------------------
# handlers

RASA_KEY = web.AppKey("takeover_rasa", RasaClient)
TEXTS_KEY = web.AppKey("takeover_texts", DomainTexts)
SUPPORT_KEY = web.AppKey("takeover_support", SupportClient)


async def _db(app: web.Application, work: Callable[[Session], T]) -> T:
    return await run(app[SESSIONS_KEY], app[EXECUTOR_KEY], work)


async def _read(app: web.Application, work: Callable[[Session], T]) -> T:
    """For the polled views (queue, live feed): no write lock taken."""
    return await read(app[SESSIONS_KEY], app[EXECUTOR_KEY], work)


def _conversation_id(request: web.Request) -> int:
    raw = request.match_info["conversation_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    return int(raw)


def _transcript_url(conversation_id: int) -> str:
    return f"/console/conversations/{conversation_id}"


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _failure(request: web.Request, status: int, code: str) -> web.StreamResponse:
    return _refused(request, status, code, ERRORS[code])


def _refused(
    request: web.Request, status: int, code: str, message: str, **payload: Any
) -> web.StreamResponse:
    if _wants_json(request):
        return web.json_response({"error": message, "code": code, **payload}, status=status)
    return error_response(request, status, message, heading="操作未完成")


def _done(request: web.Request, location: str, **payload: Any) -> web.StreamResponse:
    if _wants_json(request):
        return web.json_response({"ok": True, **payload})
    return web.Response(status=303, headers={"Location": location})


@requires("support")
async def queue_page(request: web.Request) -> web.StreamResponse:
    """GET /console/queue: waiting conversations, oldest first, and mine."""
    user = request[USER_KEY]
    texts = request.app[TEXTS_KEY]
    queue = await _read(request.app, lambda s: load_queue(s, user, texts, time.time()))
    return aiohttp_jinja2.render_template(
        "console/queue.html",
        request,
        {"queue": queue, "timeout_minutes": request.app[SETTINGS_KEY].handoff_timeout_seconds // 60},
    )


@requires("support")
async def queue_api(request: web.Request) -> web.StreamResponse:
    """GET /api/queue: the same as JSON."""
    user = request[USER_KEY]
    texts = request.app[TEXTS_KEY]
    queue = await _read(request.app, lambda s: load_queue(s, user, texts, time.time()))
    return web.json_response(queue.to_json())


@requires("support")
async def live_api(request: web.Request) -> web.StreamResponse:
    """GET /api/takeover/{id}/live?after=<message id>: new messages for the panel."""
    conversation_id = _conversation_id(request)
    raw_after = request.query.get("after", "-1")
    after = int(raw_after) if raw_after.lstrip("-").isdigit() and len(raw_after) < 15 else -1
    user = request[USER_KEY]
    data = await _read(request.app, lambda s: live_messages(s, conversation_id, after, user))
    if data is None:
        return web.json_response({"error": "会话不存在"}, status=404)
    return web.json_response(data)


@requires("support")
async def take(request: web.Request) -> web.StreamResponse:
    """POST /console/conversations/{id}/take: claim, pause the bot, tell the customer."""
    conversation_id = _conversation_id(request)
    user: CurrentUser = request[USER_KEY]
    app = request.app
    claim = await _db(
        app, lambda s: claim_conversation(s, conversation_id, user, time.time())
    )
    if claim.reason == "missing":
        raise web.HTTPNotFound()
    if not claim.ok:
        return _failure(request, 409, "taken")
    rasa = app[RASA_KEY]
    paused = False
    try:
        await rasa.pause(claim.sender_id)
        paused = True
        await rasa.say(
            claim.sender_id,
            app[TEXTS_KEY].text(JOINED, staff_name=user.display_name),
            {"takeover": "joined", "staff_name": user.display_name},
        )
    except RasaError as exc:
        logger.error("takeover of conversation %s failed: %s", conversation_id, exc)
        if paused:
            await _resume_quietly(rasa, claim.sender_id)
        await _db(app, lambda s: undo_claim(s, conversation_id, claim))
        return _failure(request, 503, "rasa")
    await _update_bank_ticket(app, claim.handoff_id, "in_progress")
    ip = client_ip(request)
    await _db(
        app,
        lambda s: audit.record(
            s,
            actor=user.username,
            action="takeover",
            target=str(conversation_id),
            detail={"previous_status": claim.previous_status},
            ip=ip,
        ),
    )
    return _done(request, _transcript_url(conversation_id), conversation_id=conversation_id)


async def _update_bank_ticket(app: web.Application, handoff_id: int | None, status: str) -> None:
    """Tell the bank's ticket system that staff took (in_progress) or finished (closed)
    a hand-off, so its line and wait estimates count only people still waiting. Best
    effort: the staff action has happened whatever the bank says."""
    if handoff_id is None:
        return
    ticket_id = await _read(
        app, lambda s: getattr(s.get(Handoff, handoff_id), "ticket_id", None)
    )
    if not ticket_id:
        return
    try:
        await app[SUPPORT_KEY].update_ticket_status(ticket_id, status)
    except ServiceError as exc:
        logger.warning("bank ticket %s not marked %s: %s", ticket_id, status, exc)


async def _resume_quietly(rasa: RasaClient, sender_id: str) -> None:
    """Best effort after a failed takeover: let the bot answer again."""
    try:
        await rasa.resume(sender_id)
    except RasaError as exc:
        logger.error("could not resume %s after a failed takeover: %s", sender_id[:8], exc)


@requires("support")
async def reply(request: web.Request) -> web.StreamResponse:
    """POST /console/conversations/{id}/reply: send the staff member's text to the customer."""
    conversation_id = _conversation_id(request)
    user: CurrentUser = request[USER_KEY]
    form = await request.post()
    raw = form.get("text")
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return _failure(request, 400, "empty")
    if len(text) > MAX_REPLY_CHARS:
        return _failure(request, 400, "too_long")
    app = request.app
    held = await _db(app, lambda s: held_conversation(s, conversation_id, user))
    if held.reason == "missing":
        raise web.HTTPNotFound()
    if not held.ok:
        return _failure(request, 409, "not_yours")
    budget = None
    if held.channel == WECHAT_CHANNEL:
        budget = await wechat_budget(app, held.sender_id)
        if budget.blocked:  # WeChat would refuse it: write nothing, say why
            return _refused(request, 409, "wechat_quota", budget.text, wechat=budget.to_json())
    try:
        await app[RASA_KEY].say(
            held.sender_id, text, {"staff": user.username, "staff_name": user.display_name}
        )
    except RasaError as exc:
        logger.error("staff reply to conversation %s failed: %s", conversation_id, exc)
        return _failure(request, 503, "rasa")
    await _db(app, lambda s: note_reply(s, held.handoff_id, time.time()))
    extra: dict[str, Any] = {}
    if budget is not None:
        after = await wechat_budget(app, held.sender_id)
        extra["wechat"] = after.to_json()
        warning = delivery_warning(budget, after)
        if warning:
            extra["warning"] = warning
    return _done(request, f"{_transcript_url(conversation_id)}#takeover", **extra)


@requires("support")
async def wechat_budget_api(request: web.Request) -> web.StreamResponse:
    """GET /api/takeover/{id}/wechat-budget: what staff may still send (WeChat only)."""
    conversation_id = _conversation_id(request)
    user: CurrentUser = request[USER_KEY]
    held = await _db(request.app, lambda s: held_conversation(s, conversation_id, user))
    if held.reason == "missing":
        raise web.HTTPNotFound()
    if not held.ok or held.channel != WECHAT_CHANNEL:
        return web.json_response({"wechat": None})
    budget = await wechat_budget(request.app, held.sender_id)
    return web.json_response({"wechat": budget.to_json()})


@requires("support")
async def hand_back(request: web.Request) -> web.StreamResponse:
    """POST /console/conversations/{id}/hand-back: the bot takes over again and resumes."""
    conversation_id = _conversation_id(request)
    user: CurrentUser = request[USER_KEY]
    form = await request.post()
    resume_task = form.get("resume_task") == "1"  # the panel's checkbox (checked by default)
    app = request.app
    held = await _db(app, lambda s: held_conversation(s, conversation_id, user))
    if held.reason == "missing":
        raise web.HTTPNotFound()
    if not held.ok:
        return _failure(request, 409, "not_yours")
    if not await _db(app, lambda s: release_conversation(s, conversation_id, held)):
        return _failure(request, 409, "not_yours")
    rasa, texts = app[RASA_KEY], app[TEXTS_KEY]
    staff_name = user.display_name
    task: str | None = None
    try:
        if resume_task:
            task = interrupted_task((await rasa.tracker(held.sender_id)).get("events") or [])
        if task:
            left = texts.text(LEFT_RESUME, staff_name=staff_name, task=texts.intent_label(task))
        else:
            left = texts.text(LEFT, staff_name=staff_name)
        await rasa.say(held.sender_id, left, {"takeover": "left", "staff_name": staff_name})
        await rasa.resume(held.sender_id)
    except RasaError as exc:
        logger.error("hand-back of conversation %s failed: %s", conversation_id, exc)
        await _db(app, lambda s: restore_hold(s, conversation_id, held))
        return _failure(request, 503, "rasa")
    resumed = None
    if task:
        try:
            await rasa.trigger_intent(held.sender_id, task)
            resumed = task
        except RasaError as exc:  # the bot answers again; only the resumption failed
            logger.error("could not resume %s in conversation %s: %s", task, conversation_id, exc)
    ip = client_ip(request)

    def finish(session: Session) -> None:
        finish_handoff(session, held.handoff_id, time.time())
        audit.record(
            session,
            actor=user.username,
            action="hand_back",
            target=str(conversation_id),
            detail={"resumed_task": resumed, "held_by": held.taken_by},
            ip=ip,
        )

    await _db(app, finish)
    await _update_bank_ticket(app, held.handoff_id, "closed")
    return _done(request, _transcript_url(conversation_id), resumed_task=resumed)


# ---------------------------------------------------------------------------
# wiring


async def takeover_ctx(app: web.Application) -> AsyncIterator[None]:
    """The Rasa client, the domain texts and the timeout task for the app's lifetime."""
    settings = app[SETTINGS_KEY]
    texts = DomainTexts.load()
    for name in (JOINED, LEFT, LEFT_RESUME, TIMEOUT):
        texts.text(name)  # fail at start-up, not halfway through a takeover
    app[TEXTS_KEY] = texts
    client = RasaClient(settings.rasa_url, settings.rasa_token, timeout=settings.rasa_api_timeout)
    app[RASA_KEY] = client
    support = SupportClient.from_settings(settings)
    app[SUPPORT_KEY] = support
    task = asyncio.create_task(_timeout_loop(app), name="handoff-timeouts")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await support.close()


def setup(app: web.Application) -> None:
    """Register the queue page, its API and the take / reply / hand-back actions."""
    app.router.add_get("/console/queue", queue_page, name="takeover_queue")
    app.router.add_get("/api/queue", queue_api, name="takeover_queue_api")
    app.router.add_get(
        "/api/takeover/{conversation_id}/live", live_api, name="takeover_live"
    )
    app.router.add_get(
        "/api/takeover/{conversation_id}/wechat-budget",
        wechat_budget_api,
        name="takeover_wechat_budget",
    )
    app.router.add_post(
        "/console/conversations/{conversation_id}/take", take, name="takeover_take"
    )
    app.router.add_post(
        "/console/conversations/{conversation_id}/reply", reply, name="takeover_reply"
    )
    app.router.add_post(
        "/console/conversations/{conversation_id}/hand-back", hand_back, name="takeover_hand_back"
    )


def setup_background(app: web.Application) -> None:
    """Register this module's background work (runs after the database is open)."""
    app.cleanup_ctx.append(takeover_ctx)
