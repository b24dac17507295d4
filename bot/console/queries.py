"""Conversation list, transcripts, tags, notes and review marks (plain functions on a Session).

The list is ordered by (last_at desc, id desc) and paged by keyset: the cursor is the
last row's (last_at, id), so every page is an index range scan however deep it is.
Filters map onto the composite indexes of :mod:`bot.console.models`; text search
goes through :mod:`bot.console.search`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, tuple_, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.bank.clock import CST
from bot.nlu.pii import mask_pii

from . import search
from .labels import Labels, button_title, get_labels, payload_text
from .models import STATUSES, Conversation, Message, Note, StaffUser, Tag

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
COUNT_CAP = 10_000  # totals above this are shown as "10000+"
COUNT_BUDGET_SECONDS = 0.05  # a total that takes longer to count is not shown
# A search term in fewer messages than this is "rare": its conversations are fetched by
# id and sorted; a common one is probed while walking the list order instead.
COMMON_TERM_HITS = 1000
TAG_MAX_CHARS = 32
NOTE_MAX_CHARS = 2000
FLAGS = ("any", "fallback", "complaint", "low_confidence", "urgent")
STATUS_LABELS = {"bot": "机器人服务中", "waiting": "等待人工", "staff": "人工服务中", "closed": "已结束"}
FLAG_LABELS = {"fallback": "兜底", "complaint": "投诉", "low_confidence": "低置信度"}
# The list filter also offers urgent handoffs (shown as their own badge, with the reason).
FILTER_FLAG_LABELS = {**FLAG_LABELS, "urgent": "紧急"}
# Rasa names the web chat channel "socketio".
CHANNEL_LABELS = {
    "wechat": "微信",
    "wechat_work": "企业微信",
    "socketio": "网页",
    "web": "网页",
    "rest": "接口",
    "console": "控制台",
}
KIND_LABELS = {
    "user": "客户",
    "bot": "机器人",
    "staff": "人工客服",
    "action": "机器人步骤",
    "slot": "信息变化",
    "event": "会话事件",
}
# Slot and entity names whose values are secrets in full, whatever they look like.
_SECRET_NAME = re.compile(r"otp|code|password|passcode|pin\b|token", re.IGNORECASE)
_TAG_RE = re.compile(rf"[^\s<>\"'&]{{1,{TAG_MAX_CHARS}}}")


class FilterError(ValueError):
    """A filter value that cannot be used; the message is for staff (Chinese)."""


class NotFound(LookupError):
    """No such conversation (or message)."""


def cst(ts: float | None) -> str:
    """``2026-01-05 14:03:09`` in China Standard Time (empty for ``None``)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M:%S")


def cst_iso(ts: float | None) -> str | None:
    """ISO 8601 with the +08:00 offset, for the JSON API."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, CST).isoformat(timespec="seconds")


def day_start(day: date) -> float:
    """Epoch seconds of 00:00 China time on ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=CST).timestamp()


def _parse_date(raw: str, label: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise FilterError(f"{label}格式应为 YYYY-MM-DD") from exc


@dataclass(frozen=True)
class ConversationFilter:
    """What the list, the API and exports are restricted to (all optional, ANDed).

    ``date_from``/``date_to`` are China dates (inclusive) of the last activity;
    ``status`` is one of bot, waiting, staff, closed ("closed" also covers bot
    conversations idle past ``conversation_idle_seconds``); ``flagged`` is one of
    any, fallback, complaint, low_confidence; ``q`` is searched in message text.
    """

    channel: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    intent: str | None = None
    status: str | None = None
    tag: str | None = None
    flagged: str | None = None
    q: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ConversationFilter:
        """Parse query-string parameters; raises :class:`FilterError` on bad values."""

        def param(name: str, limit: int = 128) -> str | None:
            value = (params.get(name) or "").strip()
            return value[:limit] or None

        status = param("status")
        if status is not None and status not in STATUSES:
            raise FilterError("未知的状态")
        flagged = param("flagged")
        if flagged in ("1", "true", "on"):
            flagged = "any"
        if flagged is not None and flagged not in FLAGS:
            raise FilterError("未知的标记")
        date_from = _parse_date(v, "开始日期") if (v := param("date_from")) else None
        date_to = _parse_date(v, "结束日期") if (v := param("date_to")) else None
        if date_from and date_to and date_from > date_to:
            raise FilterError("开始日期不能晚于结束日期")
        return cls(
            channel=param("channel", 32),
            date_from=date_from,
            date_to=date_to,
            intent=param("intent"),
            status=status,
            tag=param("tag", TAG_MAX_CHARS),
            flagged=flagged,
            q=param("q", search.MAX_QUERY_CHARS),
        )

    def without_query(self) -> ConversationFilter:
        """The same filter without the text search."""
        return replace(self, q=None)

    def to_params(self) -> dict[str, str]:
        """The non-empty fields as query-string parameters (inverse of ``from_params``)."""
        out: dict[str, str] = {}
        for name in ("channel", "intent", "status", "tag", "flagged", "q"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.date_from:
            out["date_from"] = self.date_from.isoformat()
        if self.date_to:
            out["date_to"] = self.date_to.isoformat()
        return out


def encode_cursor(last_at: float, conversation_id: int) -> str:
    """Opaque page cursor for the row (last_at, id)."""
    raw = json.dumps([repr(float(last_at)), int(conversation_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int]:
    """Inverse of :func:`encode_cursor`; raises :class:`FilterError` when it was tampered with."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_at, conversation_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(last_at), int(conversation_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise FilterError("无效的翻页参数") from exc


def effective_status(status: str, last_at: float, now: float, idle_seconds: int) -> str:
    """The status shown: a bot conversation idle longer than ``idle_seconds`` is closed."""
    if status == "bot" and last_at < now - idle_seconds:
        return "closed"
    return status


def _where(
    session: Session,
    flt: ConversationFilter,
    now: float,
    idle_seconds: int,
    *,
    hit_ids: list[int] | None = None,
    walk_order: bool = False,
) -> list[Any] | None:
    """SQL conditions of ``flt``; ``None`` when nothing can match (an unsearchable query).

    A text search becomes ``id IN (<ids>)`` when the caller already has the (few)
    ``hit_ids`` of a rare term, else ``id IN (<search subquery>)``; with
    ``walk_order`` the hits are probed while walking the list order (cheaper for a
    common term than fetching every hit and sorting).
    """
    c = Conversation
    cutoff = now - idle_seconds
    conditions: list[Any] = []
    if flt.channel:
        conditions.append(c.channel == flt.channel)
    if flt.intent:
        conditions.append(c.last_intent == flt.intent)
    if flt.date_from:
        conditions.append(c.last_at >= day_start(flt.date_from))
    if flt.date_to:
        conditions.append(c.last_at < day_start(flt.date_to + timedelta(days=1)))
    if flt.status == "bot":
        conditions += [c.status == "bot", c.last_at >= cutoff]
    elif flt.status == "closed":
        # ``status || ''`` keeps the planner off the status index (a two-range OR
        # plus a sort); nearly every old conversation is closed, so walking the
        # last_at index and filtering finds a page after a few rows.
        status = c.status.concat("")
        conditions.append(or_(status == "closed", and_(status == "bot", c.last_at < cutoff)))
    elif flt.status:
        conditions.append(c.status == flt.status)
    if flt.flagged:
        conditions.append(c.flagged.is_(True))
        if flt.flagged == "urgent":
            conditions.append(c.urgent_reason.is_not(None))
        elif flt.flagged != "any":
            conditions.append(getattr(c, f"flag_{flt.flagged}").is_(True))
    if flt.tag:
        conditions.append(
            c.id.in_(select(Tag.conversation_id).where(Tag.tag == flt.tag))
        )
    if flt.q and hit_ids is not None:
        if not hit_ids:
            return None
        conditions.append(c.id.in_(hit_ids))
    elif flt.q:
        dialect = session.get_bind().dialect.name
        matching = search.matching_conversations(dialect, flt.q)
        if matching is None:
            return None
        # ``id + 0`` hides the primary key from the planner, so it walks the order index.
        conditions.append((c.id + 0 if walk_order else c.id).in_(matching))
    return conditions


@dataclass
class ConversationRow:
    """One line of the list (text already masked where it came from customers)."""

    id: int
    sender_id: str
    channel: str
    customer_label: str
    started_at: float
    last_at: float
    last_intent: str | None
    last_confidence: float | None
    status: str
    flag_fallback: bool
    flag_complaint: bool
    flag_low_confidence: bool
    message_count: int
    reviewed: bool
    reviewed_by: str | None
    assigned_to: int | None = None
    tags: list[str] = field(default_factory=list)
    urgent_reason: str | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def last_intent_label(self) -> str:
        return get_labels().intent(self.last_intent) if self.last_intent else ""

    @property
    def urgent_label(self) -> str:
        return get_labels().urgent_reason(self.urgent_reason) if self.urgent_reason else ""

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def flags(self) -> list[str]:
        return [f for f in ("fallback", "complaint", "low_confidence") if getattr(self, f"flag_{f}")]

    @property
    def flag_labels(self) -> list[tuple[str, str]]:
        return [(f, FLAG_LABELS[f]) for f in self.flags]

    @property
    def customer(self) -> str:
        return self.customer_label or "访客"

    @property
    def started(self) -> str:
        return cst(self.started_at)

    @property
    def last(self) -> str:
        return cst(self.last_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sender_id": self.sender_id,
            "channel": self.channel,
            "customer": self.customer_label,
            "started_at": cst_iso(self.started_at),
            "last_at": cst_iso(self.last_at),
            "last_intent": self.last_intent,
            "last_intent_label": self.last_intent_label,
            "last_confidence": self.last_confidence,
            "status": self.status,
            "status_label": self.status_label,
            "flags": self.flags,
            "urgent_reason": self.urgent_reason,
            "urgent_label": self.urgent_label,
            "message_count": self.message_count,
            "reviewed": self.reviewed,
            "reviewed_by": self.reviewed_by,
            "tags": self.tags,
        }


@dataclass
class Page:
    """One page of the list; ``next_cursor`` is ``None`` on the last page.

    ``total`` counts every match up to :data:`COUNT_CAP` (``total_capped`` when there
    are more); it is ``None`` when counting was not asked for.
    """

    items: list[ConversationRow]
    next_cursor: str | None
    total: int | None = None
    total_capped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "items": [row.to_json() for row in self.items],
            "next_cursor": self.next_cursor,
            "total": self.total,
            "total_capped": self.total_capped,
        }


def _row(conv: Conversation, now: float, idle_seconds: int) -> ConversationRow:
    return ConversationRow(
        id=conv.id,
        sender_id=conv.sender_id,
        channel=conv.channel,
        customer_label=conv.customer_label,
        started_at=conv.started_at,
        last_at=conv.last_at,
        last_intent=conv.last_intent,
        last_confidence=conv.last_confidence,
        status=effective_status(conv.status, conv.last_at, now, idle_seconds),
        flag_fallback=bool(conv.flag_fallback),
        flag_complaint=bool(conv.flag_complaint),
        flag_low_confidence=bool(conv.flag_low_confidence),
        message_count=conv.message_count,
        reviewed=bool(conv.reviewed),
        reviewed_by=conv.reviewed_by,
        assigned_to=conv.assigned_to,
        urgent_reason=conv.urgent_reason,
    )


def list_statement(
    session: Session,
    flt: ConversationFilter,
    *,
    after: tuple[float, int] | None = None,
    limit: int = PAGE_SIZE,
    now: float | None = None,
    idle_seconds: int = 3600,
    hit_ids: list[int] | None = None,
    walk_order: bool = False,
) -> Select | None:
    """The page query (exposed for EXPLAIN tests); ``None``: nothing can match."""
    now = time.time() if now is None else now
    conditions = _where(
        session, flt, now, idle_seconds, hit_ids=hit_ids, walk_order=walk_order
    )
    if conditions is None:
        return None
    c = Conversation
    if after is not None:
        conditions.append(tuple_(c.last_at, c.id) < tuple_(after[0], after[1]))
    return (
        select(c)
        .where(*conditions)
        .order_by(c.last_at.desc(), c.id.desc())
        .limit(limit)
    )


def count_matches(
    session: Session,
    flt: ConversationFilter,
    *,
    cap: int = COUNT_CAP,
    budget_seconds: float | None = COUNT_BUDGET_SECONDS,
    now: float | None = None,
    idle_seconds: int = 3600,
    hit_ids: list[int] | None = None,
) -> tuple[int | None, bool]:
    """(number of matches up to ``cap``, whether there are more).

    Counting stops after ``cap + 1`` rows, and is abandoned after ``budget_seconds``
    (``(None, False)``: the total is not cheap to know, pages then just offer "next").
    ``hit_ids``: the conversations of a rare search term, when the caller has them.
    """
    now = time.time() if now is None else now
    if flt.q and hit_ids is not None:
        conditions = _where(session, flt, now, idle_seconds, hit_ids=hit_ids)
        if conditions is None:
            return 0, False
        inner = select(Conversation.id).where(*conditions).limit(cap + 1).subquery()
        total = session.execute(select(func.count()).select_from(inner)).scalar_one()
        return min(total, cap), total > cap
    plain = flt.without_query()
    conditions = _where(session, plain, now, idle_seconds)
    if conditions is None:
        return 0, False
    runs = search.query_runs(flt.q or "")
    if flt.q and not runs:
        return 0, False
    if runs and all(len(run) == 1 for run in runs):
        return None, False  # one character: matches most conversations, costly to count
    if flt.q and plain == ConversationFilter():
        # Text only: count distinct hits in the search index, no join.
        query = flt.q
        total = _within_budget(
            session, budget_seconds, lambda: search.count_conversations(session, query, cap + 1)
        )
        if total is None:
            return None, False
        return min(total, cap), total > cap
    stmt = select(Conversation.id)
    if flt.q:
        matching = search.matching_conversations(session.get_bind().dialect.name, flt.q)
        if matching is None:
            return 0, False
        hits = matching.subquery().select().distinct().subquery("hits")
        stmt = stmt.join(hits, hits.c.conversation_id == Conversation.id)
    inner = stmt.where(*conditions).limit(cap + 1).subquery()
    count = select(func.count()).select_from(inner)
    total = _within_budget(session, budget_seconds, lambda: session.execute(count).scalar_one())
    if total is None:
        return None, False
    return min(total, cap), total > cap


def _within_budget(
    session: Session, budget_seconds: float | None, work: Callable[[], int]
) -> int | None:
    """``work()``, or ``None`` when the database gave up after ``budget_seconds``."""
    if budget_seconds is None:
        return work()
    if session.get_bind().dialect.name == "sqlite":
        raw = session.connection().connection.dbapi_connection
        deadline = time.perf_counter() + budget_seconds
        raw.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
        try:
            return work()
        except OperationalError as exc:
            if "interrupted" not in str(exc.orig):
                raise
            return None
        finally:
            raw.set_progress_handler(None, 0)
    previous = session.execute(text("SELECT current_setting('statement_timeout')")).scalar_one()
    try:
        with session.begin_nested():
            session.execute(
                text("SELECT set_config('statement_timeout', :ms, true)"),
                {"ms": f"{max(1, int(budget_seconds * 1000))}ms"},
            )
            result = work()
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) != "57014":  # query_canceled
            raise
        return None
    session.execute(text("SELECT set_config('statement_timeout', :v, true)"), {"v": previous})
    return result


def list_conversations(
    session: Session,
    flt: ConversationFilter,
    *,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    now: float | None = None,
    idle_seconds: int = 3600,
    with_total: bool = True,
) -> Page:
    """One page of conversations matching ``flt``, newest activity first."""
    now = time.time() if now is None else now
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    after = decode_cursor(cursor) if cursor else None
    hit_ids = search.rare_hits(session, flt.q, COMMON_TERM_HITS) if flt.q else None
    stmt = list_statement(
        session, flt, after=after, limit=limit + 1, now=now, idle_seconds=idle_seconds,
        hit_ids=hit_ids, walk_order=bool(flt.q) and hit_ids is None,
    )
    if stmt is None:
        return Page([], None, 0 if with_total else None)
    convs = list(session.execute(stmt).scalars())
    more = len(convs) > limit
    convs = convs[:limit]
    rows = [_row(conv, now, idle_seconds) for conv in convs]
    _attach_tags(session, rows)
    next_cursor = encode_cursor(convs[-1].last_at, convs[-1].id) if more and convs else None
    page = Page(rows, next_cursor)
    if with_total:
        if after is None and not more:
            page.total = len(rows)  # everything is on this page
        else:
            page.total, page.total_capped = count_matches(
                session, flt, now=now, idle_seconds=idle_seconds, hit_ids=hit_ids
            )
    return page


def _attach_tags(session: Session, rows: list[ConversationRow]) -> None:
    by_id = {row.id: row for row in rows}
    if not by_id:
        return
    result = session.execute(
        select(Tag.conversation_id, Tag.tag)
        .where(Tag.conversation_id.in_(list(by_id)))
        .order_by(Tag.tag)
    )
    for conversation_id, tag in result:
        by_id[conversation_id].tags.append(tag)


def iter_conversations(
    session: Session,
    flt: ConversationFilter,
    *,
    before_id: int | None = None,
    limit: int = 500,
    now: float | None = None,
    idle_seconds: int = 3600,
) -> list[ConversationRow]:
    """A batch for exports: matches with id below ``before_id``, newest id first.

    Exports page by id (never changes) rather than last_at (moves on every message),
    so a conversation that is active during an export is neither skipped nor repeated.
    """
    now = time.time() if now is None else now
    conditions = _where(session, flt, now, idle_seconds)
    if conditions is None:
        return []
    if before_id is not None:
        conditions.append(Conversation.id < before_id)
    stmt = select(Conversation).where(*conditions).order_by(Conversation.id.desc()).limit(limit)
    rows = [_row(conv, now, idle_seconds) for conv in session.execute(stmt).scalars()]
    _attach_tags(session, rows)
    return rows


# --- masking -----------------------------------------------------------------------


def mask_value(value: Any, name: str | None = None) -> Any:
    """``value`` with PII masked (strings, numbers, lists and dicts, recursively)."""
    if value is None or isinstance(value, bool):
        return value
    if name and _SECRET_NAME.search(name) and isinstance(value, (str, int)):
        return "*" * len(str(value))
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, (int, float)):
        masked = mask_pii(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, list):
        return [mask_value(item, name) for item in value]
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    return mask_pii(str(value))


# --- transcript --------------------------------------------------------------------


@dataclass
class MessageView:
    """One transcript line as pages and exports show it."""

    id: int
    ts: float
    kind: str
    text: str | None
    intent: str | None
    confidence: float | None
    author: str | None
    channel: str | None
    entities: list[dict[str, Any]]
    name: str | None  # action or slot name
    value: Any  # slot value
    data: dict[str, Any]
    masked: bool
    author_name: str | None = None
    # Set by :func:`label_messages`: Chinese names, and what staff read for a clicked
    # button (its title) instead of the raw payload.
    intent_label: str = ""
    name_label: str = ""
    value_label: str = ""
    display_text: str | None = None
    is_payload: bool = False  # a payload ("/greet"): shown as ``display_text``
    button_clicked: bool = False  # ... the title of a button the bot offered

    @property
    def time(self) -> str:
        return cst(self.ts)

    @property
    def shown_text(self) -> str:
        """The text as support staff read it (a button payload as the button's title)."""
        return self.display_text if self.display_text is not None else (self.text or "")

    @property
    def button_titles(self) -> list[str]:
        """Titles of the buttons a bot message offered."""
        buttons = self.data.get("buttons")
        if not isinstance(buttons, list):
            return []
        return [str(b["title"]) for b in buttons if isinstance(b, dict) and b.get("title")]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel or "", self.channel or "")

    @property
    def is_detail(self) -> bool:
        """Actions, slot changes and other events (shown collapsed)."""
        return self.kind not in ("user", "bot", "staff")

    @property
    def has_pii(self) -> bool:
        """Whether the masked text differs from the raw one (an admin may reveal it)."""
        return self.masked and bool(self.data.get("_pii"))

    @property
    def value_json(self) -> str:
        return json.dumps(self.value, ensure_ascii=False)

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "time": cst_iso(self.ts),
            "kind": self.kind,
            "text": self.text,
            "intent": self.intent,
            "confidence": self.confidence,
            "entities": self.entities,
            "author": self.author,
            "author_name": self.author_name,
            "channel": self.channel,
            "masked": self.masked,
        }
        if self.intent:
            out["intent_label"] = self.intent_label or get_labels().intent(self.intent)
        if self.kind == "user" and self.is_payload:
            out["display_text"] = self.display_text
        if self.kind in ("action", "slot", "event"):
            out["name"] = self.name
            out["name_label"] = self.name_label
        if self.kind == "slot":
            out["value"] = self.value
            out["value_label"] = self.value_label
        return out


def message_view(msg: Message, *, masked: bool) -> MessageView:
    """A :class:`MessageView` of ``msg``, PII-masked unless ``masked`` is false."""
    data = dict(msg.data or {}) if isinstance(msg.data, dict) else {}
    raw_entities = data.get("entities") or []
    entities: list[dict[str, Any]] = []
    pii = False
    for entity in raw_entities if isinstance(raw_entities, list) else []:
        if not isinstance(entity, dict):
            continue
        entity_name = str(entity.get("entity", ""))
        raw_value = entity.get("value")
        shown = mask_value(raw_value, entity_name) if masked else raw_value
        pii = pii or shown != raw_value
        entities.append(
            {"entity": entity_name, "value": shown, "extractor": entity.get("extractor")}
        )
    name = data.get("name") or data.get("action") or data.get("slot") or data.get("event")
    value = data.get("value")
    text = msg.text
    if masked:
        if text:
            masked_text = mask_pii(text)
            pii = masked_text != text
            text = masked_text
        if msg.kind == "slot":
            masked_value = mask_value(value, str(name or ""))
            pii = pii or masked_value != value
            value = masked_value
    extra = {"_pii": pii}
    for key in ("policy", "buttons", "button_title", "event", "redacted"):
        if key in data:
            extra[key] = mask_value(data[key]) if masked else data[key]
    return MessageView(
        id=msg.id,
        ts=msg.ts,
        kind=msg.kind,
        text=text,
        intent=msg.intent,
        confidence=msg.confidence,
        author=msg.author,
        channel=msg.channel,
        entities=entities,
        name=str(name) if name is not None else None,
        value=value,
        data=extra,
        masked=masked,
    )


def label_messages(
    views: list[MessageView], labels: Labels | None = None, *, buttons: Any = None
) -> list[MessageView]:
    """Fill in the Chinese names of ``views`` (in order) and show the customer's button
    clicks as the button's title: from the buttons of the bot message before it (the
    stored data), else the intent's label; ``buttons``: those offered before the first."""
    table = labels or get_labels()
    offered = buttons if isinstance(buttons, list) else []
    for view in views:
        if view.intent:
            view.intent_label = table.intent(view.intent)
        if view.kind == "bot" and isinstance(view.data.get("buttons"), list):
            offered = view.data["buttons"]
        elif view.kind == "user":
            stored = view.data.get("button_title")  # noted by the ingest projector
            title = stored if isinstance(stored, str) and stored else None
            title = title or button_title(view.text or "", offered)
            shown = title or payload_text(view.text or "", offered, table)
            if shown is not None:
                view.is_payload = True
                view.button_clicked = title is not None
                view.display_text = shown
        elif view.kind == "action":
            view.name_label = table.action(view.name)
        elif view.kind == "slot":
            view.name_label = table.slot(view.name)
            if view.data.get("redacted"):
                view.value_label = "（已隐藏）"
            else:
                view.value_label = table.slot_value(view.name, view.value)
        elif view.kind == "event":
            event = view.data.get("event") or view.name
            if event == "active_loop":
                view.name_label = (
                    f"开始表单：{table.form(view.name)}"
                    if view.name and view.name != "active_loop"
                    else "表单结束"
                )
            else:
                view.name_label = table.event(event)
    return views


def preceding_buttons(session: Session, conversation_id: int, before_id: int) -> list[Any]:
    """The buttons of the latest bot message with buttons before message ``before_id``."""
    rows = session.execute(
        select(Message.data)
        .where(
            Message.conversation_id == conversation_id,
            Message.kind == "bot",
            Message.id < before_id,
        )
        .order_by(Message.id.desc())
        .limit(20)
    ).scalars()
    for data in rows:
        if isinstance(data, dict) and isinstance(data.get("buttons"), list):
            return list(data["buttons"])
    return []


@dataclass
class NoteView:
    id: int
    author: str
    text: str
    created_at: float

    @property
    def time(self) -> str:
        return cst(self.created_at)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "author": self.author, "text": self.text, "time": cst_iso(self.created_at)}


@dataclass
class Transcript:
    conversation: ConversationRow
    messages: list[MessageView]
    notes: list[NoteView]

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation": self.conversation.to_json(),
            "messages": [m.to_json() for m in self.messages],
            "notes": [n.to_json() for n in self.notes],
        }


def _conversation(session: Session, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id}")
    return conv


def get_transcript(
    session: Session,
    conversation_id: int,
    *,
    masked: bool = True,
    now: float | None = None,
    idle_seconds: int = 3600,
) -> Transcript:
    """The whole conversation in order, with tags and notes; raises :class:`NotFound`."""
    now = time.time() if now is None else now
    conv = _conversation(session, conversation_id)
    row = _row(conv, now, idle_seconds)
    _attach_tags(session, [row])
    messages = [
        message_view(msg, masked=masked)
        for msg in session.execute(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id)
        ).scalars()
    ]
    notes = [
        NoteView(n.id, n.author, mask_pii(n.text) if masked else n.text, n.created_at)
        for n in session.execute(
            select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)
        ).scalars()
    ]
    _attach_author_names(session, messages)
    label_messages(messages)
    return Transcript(row, messages, notes)


def _attach_author_names(session: Session, messages: list[MessageView]) -> None:
    """Staff display names for staff messages (the username when the account is gone)."""
    usernames = {m.author for m in messages if m.kind == "staff" and m.author}
    names: dict[str, str] = {}
    if usernames:
        names = dict(
            session.execute(
                select(StaffUser.username, StaffUser.display_name).where(
                    StaffUser.username.in_(usernames)
                )
            ).all()
        )
    for m in messages:
        if m.kind == "staff" and m.author:
            m.author_name = names.get(m.author, m.author)


def transcripts_for(session: Session, rows: list[ConversationRow], *, masked: bool) -> list[Transcript]:
    """Whole transcripts of several conversations with two queries (for the JSON export)."""
    ids = [row.id for row in rows]
    messages: dict[int, list[MessageView]] = {i: [] for i in ids}
    notes: dict[int, list[NoteView]] = {i: [] for i in ids}
    if ids:
        for msg in session.execute(
            select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.id)
        ).scalars():
            messages[msg.conversation_id].append(message_view(msg, masked=masked))
        for note in session.execute(
            select(Note).where(Note.conversation_id.in_(ids)).order_by(Note.id)
        ).scalars():
            body = mask_pii(note.text) if masked else note.text
            notes[note.conversation_id].append(
                NoteView(note.id, note.author, body, note.created_at)
            )
    table = get_labels()
    for views in messages.values():
        label_messages(views, table)
    return [Transcript(row, messages[row.id], notes[row.id]) for row in rows]


def first_user_texts(session: Session, ids: list[int], *, masked: bool) -> dict[int, str]:
    """The first customer message of each conversation (for the CSV export)."""
    if not ids:
        return {}
    first = (
        select(func.min(Message.id))
        .where(Message.conversation_id.in_(ids), Message.kind == "user")
        .group_by(Message.conversation_id)
    )
    out: dict[int, str] = {}
    for conversation_id, body in session.execute(
        select(Message.conversation_id, Message.text).where(Message.id.in_(first))
    ):
        body = body or ""
        out[conversation_id] = mask_pii(body) if masked else body
    return out


def customer_ids(session: Session, ids: list[int]) -> dict[int, str]:
    """Bank customer ids of conversations (unmasked exports only)."""
    if not ids:
        return {}
    result = session.execute(
        select(Conversation.id, Conversation.customer_id).where(Conversation.id.in_(ids))
    )
    return {cid: customer for cid, customer in result if customer}


def raw_message(session: Session, conversation_id: int, message_id: int) -> MessageView:
    """The unmasked view of one message of a conversation (for an admin's reveal)."""
    msg = session.get(Message, message_id)
    if msg is None or msg.conversation_id != conversation_id:
        raise NotFound(f"message {message_id}")
    return message_view(msg, masked=False)


# --- tags, notes, review -----------------------------------------------------------


def clean_tag(raw: str) -> str:
    """A tag as stored: trimmed, one word of at most 32 characters; raises FilterError."""
    tag = (raw or "").strip()
    if not _TAG_RE.fullmatch(tag):
        raise FilterError(f"标签须为 1-{TAG_MAX_CHARS} 个字符，不含空格和 <>\"'&")
    return tag


def add_tag(session: Session, conversation_id: int, raw_tag: str) -> str:
    """Tag a conversation (a tag it already has is kept once); returns the stored tag."""
    _conversation(session, conversation_id)
    tag = clean_tag(raw_tag)
    exists = session.execute(
        select(Tag.id).where(Tag.conversation_id == conversation_id, Tag.tag == tag)
    ).first()
    if exists is None:
        session.add(Tag(conversation_id=conversation_id, tag=tag))
        session.flush()
    return tag


def remove_tag(session: Session, conversation_id: int, tag: str) -> bool:
    """Remove a tag; returns whether it was there."""
    _conversation(session, conversation_id)
    result = session.execute(
        delete(Tag).where(Tag.conversation_id == conversation_id, Tag.tag == (tag or "").strip())
    )
    return bool(result.rowcount)


def add_note(session: Session, conversation_id: int, author: str, text: str) -> NoteView:
    """Add a staff note (1-2000 characters)."""
    _conversation(session, conversation_id)
    body = (text or "").strip()
    if not body:
        raise FilterError("备注不能为空")
    if len(body) > NOTE_MAX_CHARS:
        raise FilterError(f"备注不能超过 {NOTE_MAX_CHARS} 字")
    note = Note(conversation_id=conversation_id, author=author, text=body, created_at=time.time())
    session.add(note)
    session.flush()
    return NoteView(note.id, note.author, note.text, note.created_at)


def mark_reviewed(session: Session, conversation_id: int, username: str, reviewed: bool = True) -> None:
    """Mark (or unmark) a conversation as reviewed by ``username``."""
    _conversation(session, conversation_id)
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(reviewed=reviewed, reviewed_by=username if reviewed else None)
    )


def distinct_values(session: Session, table: str, col: str) -> list[str]:
    """Distinct non-null values of an indexed column by skipping through its index
    (one index seek per value, not a scan of every row)."""
    allowed = {("conversations", "channel"), ("conversations", "last_intent"), ("tags", "tag")}
    if (table, col) not in allowed:
        raise ValueError(f"not an indexed filter column: {table}.{col}")
    sql = (
        f"WITH RECURSIVE v(x) AS (SELECT min({col}) FROM {table} UNION ALL "
        f"SELECT (SELECT min({col}) FROM {table} WHERE {col} > v.x) FROM v WHERE v.x IS NOT NULL) "
        "SELECT x FROM v WHERE x IS NOT NULL"
    )
    return [value for (value,) in session.execute(text(sql)) if value != ""]


def filter_options(session: Session) -> dict[str, list[str]]:
    """Values the filter form offers: channels, intents and tags in use."""
    return {
        "channels": distinct_values(session, "conversations", "channel"),
        "intents": distinct_values(session, "conversations", "last_intent"),
        "tags": distinct_values(session, "tags", "tag"),
    }


__all__ = [
    "COUNT_CAP",
    "ConversationFilter",
    "ConversationRow",
    "FilterError",
    "MessageView",
    "NotFound",
    "Page",
    "Transcript",
    "add_note",
    "add_tag",
    "count_matches",
    "decode_cursor",
    "effective_status",
    "encode_cursor",
    "get_transcript",
    "iter_conversations",
    "list_conversations",
    "list_statement",
    "mark_reviewed",
    "raw_message",
    "remove_tag",
]
