"""The NLU inbox: customer messages the model missed or nearly missed, grouped for trainers.

A customer (``user``) message of the console database is in the inbox when its intent
confidence is below ``settings.low_confidence_threshold``, it was classified
nlu_fallback or out_of_scope, a staff member corrected its intent (IntentCorrection),
or it was what the customer said last before a handoff to a person (asked for, or
after the fallback gave up; not the request for a person itself, not complaints); and
no trainer has decided on it yet (InboxDecision: assigned, ignored or deleted). Button
payloads (``/intent{...}``) are not NLU and never listed.

Messages are grouped by near-duplicates: the same text once folded, simplified, lower
cased, without punctuation and with every number as 0 is one group, and groups whose
keys have a character-bigram Jaccard similarity of at least 0.9 are merged. Groups come
newest first, each with the newest message's prediction, the alternatives Rasa ranked,
and the jieba tokens (to see where an entity span can start and end).

Every criterion is one indexed query (ix_messages_kind_confidence,
ix_messages_intent_kind_ts, the corrections table, the handoffs), so only flagged
messages are read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.console.models import Base, Handoff, InboxDecision, IntentCorrection, Message
from bot.nlu.pii import mask_pii
from bot.settings import Settings

from .checks import similar_pairs
from .nludata import (
    Change,
    Example,
    ProjectPaths,
    Token,
    TrainerError,
    add_examples,
    compare_key,
    read_nlu,
    tokenize,
)

LOW_CONFIDENCE, FALLBACK, OUT_OF_SCOPE, CORRECTED, HANDOFF = (
    "low_confidence",
    "fallback",
    "out_of_scope",
    "corrected",
    "handoff",
)
MISSED_INTENTS = {"nlu_fallback": FALLBACK, "out_of_scope": OUT_OF_SCOPE}
ACTIONS = ("assigned", "ignored", "deleted")
# Handoffs that say the bot did not understand: the customer asked for a person, or the
# fallback gave up (complaints have their own form). The message taken is the last one
# before the handoff other than the request for a person, within a few minutes.
HANDOFF_REASONS = ("human_handoff", "fallback")
ASKED_FOR_PERSON = ("human_handoff",)
HANDOFF_WINDOW_SECONDS = 600
GROUP_SIMILARITY = 0.9
ALTERNATIVES = 4
VARIANTS = 5
DEFAULT_SCAN_LIMIT = 5000  # flagged messages read per criterion, newest first
_CHUNK = 500
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Alternative:
    """Another intent Rasa ranked for the message, with its confidence."""

    intent: str
    confidence: float | None


@dataclass
class InboxGroup:
    """Near-identical flagged messages shown as one inbox row."""

    key: str
    text: str  # the newest message's text, as the customer wrote it
    masked_text: str  # the same with personal data masked (bot/nlu/pii.py)
    count: int
    message_ids: list[int]  # newest first
    conversation_id: int  # of the newest message
    first_at: float
    last_at: float
    intent: str | None  # predicted for the newest message
    confidence: float | None
    alternatives: list[Alternative]
    reasons: list[str]
    corrected_intent: str | None = None
    retrieval_intent: str | None = None  # faq/<topic> picked by the ResponseSelector
    known_intent: str | None = None  # the text is already a training example of this intent
    variants: list[str] = field(default_factory=list)  # distinct texts, newest first
    tokens: list[Token] = field(default_factory=list)

    def as_dict(self, *, masked: bool = True) -> dict[str, Any]:
        """JSON-ready; with ``masked`` the texts (and tokens) are the masked ones."""
        data = asdict(self)
        if masked:
            data["text"] = self.masked_text
            data["variants"] = [mask_pii(v) for v in self.variants]
            if self.masked_text != self.text:
                data["tokens"] = [asdict(t) for t in tokenize(self.masked_text)]
        return data


@dataclass
class _Row:
    id: int
    conversation_id: int
    ts: float
    text: str
    intent: str | None
    confidence: float | None
    data: dict[str, Any]
    reasons: set[str] = field(default_factory=set)
    corrected: str | None = None


def inbox_key(text: str) -> str:
    """Grouping key: the comparison key with every number as 0 (转账500 ~ 转账300)."""
    return _NUMBER.sub("0", compare_key(text))


def ensure_inbox_schema(engine: Engine) -> None:
    """Create the inbox tables and message indexes a database made before them lacks."""
    Base.metadata.create_all(
        engine, tables=[IntentCorrection.__table__, InboxDecision.__table__], checkfirst=True
    )
    for index in Message.__table__.indexes:
        if index.name in ("ix_messages_kind_confidence", "ix_messages_intent_kind_ts"):
            index.create(engine, checkfirst=True)


def flag_statements(threshold: float, since: float | None, scan_limit: int) -> dict[str, Select]:
    """One query per inbox criterion (each walks an index; exposed for EXPLAIN tests)."""
    recent = [Message.ts >= since] if since is not None else []
    low = (
        select(Message.id)
        .where(Message.kind == "user", Message.confidence < threshold, *recent)
        .order_by(Message.ts.desc())
        .limit(scan_limit)
    )
    # One query per intent: equality on (intent, kind) walks the index in ts order.
    missed = {
        reason: select(Message.id)
        .where(Message.intent == intent, Message.kind == "user", *recent)
        .order_by(Message.ts.desc())
        .limit(scan_limit)
        for intent, reason in MISSED_INTENTS.items()
    }
    corrections = (
        select(IntentCorrection.message_id, IntentCorrection.intent)
        .join(Message, Message.id == IntentCorrection.message_id)
        .where(*recent)
        .order_by(IntentCorrection.at, IntentCorrection.id)
    )
    before_handoff = (
        select(Message.id)
        .where(
            Message.conversation_id == Handoff.conversation_id,
            Message.kind == "user",
            Message.ts <= Handoff.requested_at,
            Message.ts >= Handoff.requested_at - HANDOFF_WINDOW_SECONDS,
            or_(Message.intent.is_(None), Message.intent.not_in(list(ASKED_FOR_PERSON))),
        )
        .order_by(Message.ts.desc(), Message.id.desc())
        .limit(1)
        .correlate(Handoff)
        .scalar_subquery()
    )
    handoff_since = [Handoff.requested_at >= since] if since is not None else []
    handoffs = (
        select(before_handoff)
        .select_from(Handoff)
        .where(Handoff.reason.in_(list(HANDOFF_REASONS)), *handoff_since)
        .order_by(Handoff.requested_at.desc())
        .limit(scan_limit)
    )
    return {LOW_CONFIDENCE: low, **missed, CORRECTED: corrections, HANDOFF: handoffs}


def _flagged(
    session: Session, threshold: float, since: float | None, scan_limit: int
) -> tuple[dict[int, set[str]], dict[int, str]]:
    """Message id -> reasons, and message id -> corrected intent (the latest correction)."""
    statements = flag_statements(threshold, since, scan_limit)
    reasons: dict[int, set[str]] = {}

    def add(message_id: int, reason: str) -> None:
        reasons.setdefault(message_id, set()).add(reason)

    for reason in (LOW_CONFIDENCE, *MISSED_INTENTS.values()):
        for message_id in session.execute(statements[reason]).scalars():
            add(message_id, reason)
    corrected: dict[int, str] = {}
    for message_id, intent in session.execute(statements[CORRECTED]):
        corrected[message_id] = intent
        add(message_id, CORRECTED)
    for message_id in session.execute(statements[HANDOFF]).scalars():
        if message_id is not None:
            add(message_id, HANDOFF)
    return reasons, corrected


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _rows(session: Session, reasons: dict[int, set[str]], corrected: dict[int, str]) -> list[_Row]:
    """The flagged messages nobody has decided on, newest first."""
    ids = sorted(reasons)
    decided: set[int] = set()
    for chunk in _chunks(ids):
        decided.update(
            session.execute(
                select(InboxDecision.message_id).where(InboxDecision.message_id.in_(chunk))
            ).scalars()
        )
    rows: list[_Row] = []
    columns = (
        Message.id,
        Message.conversation_id,
        Message.ts,
        Message.text,
        Message.intent,
        Message.confidence,
        Message.data,
    )
    for chunk in _chunks([i for i in ids if i not in decided]):
        for row in session.execute(select(*columns).where(Message.id.in_(chunk))):
            text = (row.text or "").strip()
            if not text or text.startswith("/"):  # empty, or a button payload (/intent{...})
                continue
            rows.append(
                _Row(
                    row.id,
                    row.conversation_id,
                    row.ts,
                    text,
                    row.intent,
                    row.confidence,
                    row.data or {},
                    reasons[row.id],
                    corrected.get(row.id),
                )
            )
    rows.sort(key=lambda r: (r.ts, r.id), reverse=True)
    return rows


def _alternatives(row: _Row) -> list[Alternative]:
    ranking = row.data.get("intent_ranking") or []
    return [
        Alternative(str(item.get("name")), item.get("confidence"))
        for item in ranking
        if isinstance(item, dict) and item.get("name") and item.get("name") != row.intent
    ][:ALTERNATIVES]


def group_rows(rows: Sequence[_Row]) -> list[list[_Row]]:
    """Rows (newest first) grouped by near-duplicate text; groups newest first."""
    exact: dict[str, list[_Row]] = {}
    for row in rows:
        exact.setdefault(inbox_key(row.text), []).append(row)
    keys = list(exact)
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _score in similar_pairs(keys, GROUP_SIMILARITY):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    merged: dict[int, list[_Row]] = {}
    for i, key in enumerate(keys):
        merged.setdefault(root(i), []).extend(exact[key])
    groups = [sorted(g, key=lambda r: (r.ts, r.id), reverse=True) for g in merged.values()]
    return sorted(groups, key=lambda g: (g[0].ts, g[0].id), reverse=True)


def _group(rows: list[_Row], known: dict[str, str], project: ProjectPaths | None) -> InboxGroup:
    newest = rows[0]
    reasons = sorted(set().union(*(r.reasons for r in rows)))
    corrected = next((r.corrected for r in rows if r.corrected), None)
    variants: list[str] = []
    for row in rows:
        if row.text not in variants:
            variants.append(row.text)
    return InboxGroup(
        key=inbox_key(newest.text),
        text=newest.text,
        masked_text=mask_pii(newest.text),
        count=len(rows),
        message_ids=[r.id for r in rows],
        conversation_id=newest.conversation_id,
        first_at=min(r.ts for r in rows),
        last_at=newest.ts,
        intent=newest.intent,
        confidence=newest.confidence,
        alternatives=_alternatives(newest),
        reasons=reasons,
        corrected_intent=corrected,
        retrieval_intent=newest.data.get("retrieval_intent"),
        known_intent=known.get(compare_key(newest.text)),
        variants=variants[:VARIANTS],
        tokens=tokenize(newest.text, project),
    )


def load_inbox(
    session: Session,
    settings: Settings,
    *,
    limit: int = 50,
    since: float | None = None,
    threshold: float | None = None,
    project: ProjectPaths | None = None,
    scan_limit: int = DEFAULT_SCAN_LIMIT,
) -> list[InboxGroup]:
    """The inbox, newest group first, at most ``limit`` groups.

    ``since``: epoch seconds; ``threshold``: defaults to the settings' low-confidence
    threshold; ``project``: whose jieba dictionary tokenises and whose training data
    marks texts that are already examples (``known_intent``)."""
    threshold = settings.low_confidence_threshold if threshold is None else threshold
    reasons, corrected = _flagged(session, threshold, since, scan_limit)
    groups = group_rows(_rows(session, reasons, corrected))[: max(limit, 0)]
    project = project or ProjectPaths.default()
    known = (
        {compare_key(item.example.text): item.intent for item in read_nlu(project)}
        if groups
        else {}
    )
    return [_group(rows, known, project) for rows in groups]


def _user_messages(session: Session, message_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(set(message_ids))):
        found.update(
            session.execute(
                select(Message.id).where(Message.id.in_(chunk), Message.kind == "user")
            ).scalars()
        )
    return found


def decide(
    session: Session,
    message_ids: Sequence[int],
    action: str,
    intent: str | None,
    user: str,
    *,
    at: float | None = None,
) -> int:
    """Record a trainer's decision on messages (a whole group at once); they leave the
    inbox. A later decision replaces an earlier one. The caller commits."""
    if action not in ACTIONS:
        raise TrainerError(f"unknown action '{action}' (one of {', '.join(ACTIONS)})")
    if action == "assigned" and not intent:
        raise TrainerError("assigning needs an intent / 需要选择意图")
    if not (user or "").strip():
        raise TrainerError("who decided is required / 需要操作人")
    ids = sorted(set(message_ids))
    if not ids:
        raise TrainerError("no messages given")
    missing = set(ids) - _user_messages(session, ids)
    if missing:
        raise TrainerError(f"not customer messages: {sorted(missing)}")
    when = time.time() if at is None else at
    for chunk in _chunks(ids):
        session.execute(delete(InboxDecision).where(InboxDecision.message_id.in_(chunk)))
    session.add_all(
        InboxDecision(
            message_id=i,
            action=action,
            intent=intent if action == "assigned" else None,
            user=user.strip(),
            at=when,
        )
        for i in ids
    )
    session.flush()
    return len(ids)


def assign(
    session: Session,
    project: ProjectPaths,
    message_ids: Sequence[int],
    intent: str,
    examples: Sequence[Example],
    user: str,
) -> Change:
    """Annotate a group: write ``examples`` (usually one, spans snapped with
    ``nludata.annotate``) under ``intent`` in the YAML, then mark the group's messages
    assigned. Nothing is recorded when the YAML write is refused. The caller commits."""
    ids = sorted(set(message_ids))
    if not ids:
        raise TrainerError("no messages given")
    missing = set(ids) - _user_messages(session, ids)
    if missing:
        raise TrainerError(f"not customer messages: {sorted(missing)}")
    change = add_examples(project, intent, examples, user)
    decide(session, ids, "assigned", intent, user)
    return change


def undecide(session: Session, message_ids: Sequence[int]) -> int:
    """Put decided messages back into the inbox; returns how many were decided."""
    removed = 0
    for chunk in _chunks(sorted(set(message_ids))):
        result = session.execute(delete(InboxDecision).where(InboxDecision.message_id.in_(chunk)))
        removed += result.rowcount or 0
    return removed


def correct(
    session: Session, message_id: int, intent: str, user: str, *, at: float | None = None
) -> IntentCorrection:
    """A staff member's correction of a message's intent (it enters the inbox)."""
    if not intent or not (user or "").strip():
        raise TrainerError("a correction needs the intent and who made it")
    if not _user_messages(session, [message_id]):
        raise TrainerError(f"message {message_id} is not a customer message")
    row = IntentCorrection(
        message_id=message_id,
        intent=intent,
        user=user.strip(),
        at=time.time() if at is None else at,
    )
    session.add(row)
    session.flush()
    return row
