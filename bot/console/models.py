"""The console's own tables: staff, sessions, conversations fed by Rasa's events, and audit.

Times are UNIX epoch seconds (floats), as Rasa stamps its events; pages show them
in China Standard Time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base

Base: Any = declarative_base()

ROLES = ("support", "trainer", "admin")
# bot: the bot answers; waiting: asked for a person, nobody took it yet;
# staff: a person has it (the bot is paused); closed: idle past the session window.
STATUSES = ("bot", "waiting", "staff", "closed")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(64), nullable=False)
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    demo_password = Column(Boolean, nullable=False, default=False)  # created by the demo profile
    disabled = Column(Boolean, nullable=False, default=False)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(Float, nullable=True)
    created_at = Column(Float, nullable=False)
    last_login_at = Column(Float, nullable=True)


class StaffSession(Base):
    """A logged-in browser. Only a hash of the cookie value is stored."""

    __tablename__ = "staff_sessions"

    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(Float, nullable=False)
    expires_at = Column(Float, nullable=False)
    ip = Column(String(64), nullable=True)


class LoginAttempt(Base):
    """Failed and successful logins, for per-address rate limiting."""

    __tablename__ = "login_attempts"

    id = Column(Integer, primary_key=True)
    at = Column(Float, nullable=False)
    ip = Column(String(64), nullable=False)
    username = Column(String(64), nullable=False)
    ok = Column(Boolean, nullable=False)

    __table_args__ = (Index("ix_login_attempts_ip_at", "ip", "at"),)


class Conversation(Base):
    """One Rasa conversation (sender_id), kept up to date from the event stream."""

    __tablename__ = "conversations"

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(255), nullable=False, unique=True)
    channel = Column(String(32), nullable=False, default="")
    customer_id = Column(String(64), nullable=True)  # bank customer once bound
    customer_label = Column(String(64), nullable=False, default="")  # masked, e.g. 张* 138****8000
    started_at = Column(Float, nullable=False)
    last_at = Column(Float, nullable=False)
    last_intent = Column(String(128), nullable=True)
    last_confidence = Column(Float, nullable=True)
    status = Column(String(16), nullable=False, default="bot")
    flag_fallback = Column(Boolean, nullable=False, default=False)
    flag_complaint = Column(Boolean, nullable=False, default=False)
    flag_low_confidence = Column(Boolean, nullable=False, default=False)
    flagged = Column(Boolean, nullable=False, default=False)  # any flag, or urgent
    fallback_count = Column(Integer, nullable=False, default=0)
    message_count = Column(Integer, nullable=False, default=0)
    reviewed = Column(Boolean, nullable=False, default=False)
    reviewed_by = Column(String(64), nullable=True)
    assigned_to = Column(Integer, ForeignKey("staff_users.id"), nullable=True)
    # Set when the bot asked for a person urgently (the ``urgent_reason`` slot with
    # action_human_handoff): fraud, stolen_card, disputed_transfer (domain/labels.yml).
    urgent_reason = Column(String(32), nullable=True)
    # Dialogue state kept by the event projector (bot/console/ingest.py): current slots
    # (secrets dropped), active loop, the task being handled, the masked phone seen.
    state = Column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_conv_last", "last_at", "id"),
        Index("ix_conv_channel_last", "channel", "last_at", "id"),
        Index("ix_conv_status_last", "status", "last_at", "id"),
        Index("ix_conv_intent_last", "last_intent", "last_at", "id"),
        Index("ix_conv_flagged_last", "flagged", "last_at", "id"),
        Index("ix_conv_started", "started_at"),
    )


class Message(Base):
    """Everything shown in a transcript: user, bot and staff messages, actions, slot changes.

    ``kind``: user, bot, staff, action, slot, event. ``text`` is the raw text (the
    bank's record); pages show it through the PII masker unless an admin reveals it.
    """

    __tablename__ = "messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    ts = Column(Float, nullable=False)
    kind = Column(String(16), nullable=False)
    text = Column(Text, nullable=True)
    intent = Column(String(128), nullable=True)
    confidence = Column(Float, nullable=True)
    data = Column(JSON, nullable=True)  # entities, ranking, buttons, slot name/value, action name
    author = Column(String(64), nullable=True)  # staff username for staff messages
    channel = Column(String(32), nullable=True)

    __table_args__ = (
        Index("ix_messages_conv", "conversation_id", "id"),
        # Analytics: customer messages in a date range, without touching the table rows.
        Index("ix_messages_kind_ts", "kind", "ts", "conversation_id", "intent"),
        # Trainer inbox (bot/trainer/inbox.py): low-confidence and fallback messages.
        Index("ix_messages_kind_confidence", "kind", "confidence"),
        Index("ix_messages_intent_kind_ts", "intent", "kind", "ts"),
    )


class Tag(Base):
    __tablename__ = "tags"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    tag = Column(String(64), nullable=False)

    __table_args__ = (
        UniqueConstraint("conversation_id", "tag"),
        Index("ix_tags_tag", "tag", "conversation_id"),
    )


class Note(Base):
    __tablename__ = "notes"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    author = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(Float, nullable=False)

    __table_args__ = (Index("ix_notes_conv", "conversation_id", "id"),)


class Handoff(Base):
    """One request for a person, from waiting to handed back."""

    __tablename__ = "handoffs"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    reason = Column(String(32), nullable=False)  # human_handoff, complaint, fallback, proactive
    requested_at = Column(Float, nullable=False)
    # An urgent handoff: the code of the ``urgent_reason`` slot set in the same turn as
    # action_human_handoff, and when it became urgent (the queue puts these first).
    urgent_reason = Column(String(32), nullable=True)
    urgent_at = Column(Float, nullable=True)
    ticket_id = Column(String(64), nullable=True)  # the bank's ticket (``handoff_ticket_id``)
    summary = Column(JSON, nullable=True)  # last intent, slots, verification, interrupted task
    status = Column(String(16), nullable=False, default="waiting")  # waiting, taken, returned, closed
    taken_by = Column(String(64), nullable=True)
    taken_at = Column(Float, nullable=True)
    first_reply_at = Column(Float, nullable=True)
    returned_at = Column(Float, nullable=True)
    timeout_notified_at = Column(Float, nullable=True)

    __table_args__ = (Index("ix_handoffs_status", "status", "requested_at"),)


class ComplaintTicket(Base):
    """One complaint ticket of the bank, as ``complaint_ticket_id`` named it (once per id:
    details added to an existing ticket set the same id again)."""

    __tablename__ = "complaint_tickets"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(String(64), nullable=False, unique=True)
    conversation_id = Column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    created_at = Column(Float, nullable=False)

    __table_args__ = (Index("ix_complaint_tickets_created", "created_at", "conversation_id"),)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(Float, nullable=False)
    actor = Column(String(64), nullable=True)  # username (None: anonymous / system)
    action = Column(String(32), nullable=False)
    target = Column(String(255), nullable=True)
    detail = Column(JSON, nullable=True)
    ip = Column(String(64), nullable=True)

    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_action_at", "action", "at"))


class IngestCursor(Base):
    """How far the console has read an event source."""

    __tablename__ = "ingest_cursor"

    source = Column(String(64), primary_key=True)
    position = Column(Integer, nullable=False, default=0)


class IntentCorrection(Base):
    """A staff member says a customer message meant another intent (feeds the trainer inbox)."""

    __tablename__ = "intent_corrections"

    id = Column(Integer, primary_key=True)
    message_id = Column(Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    intent = Column(String(128), nullable=False)
    user = Column(String(64), nullable=False)
    at = Column(Float, nullable=False)

    __table_args__ = (Index("ix_intent_corrections_message", "message_id"),)


class InboxDecision(Base):
    """What a trainer did with a message of the NLU inbox: assigned (to ``intent``),
    ignored or deleted. A decided message leaves the inbox."""

    __tablename__ = "trainer_inbox_decisions"

    message_id = Column(Integer, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    action = Column(String(16), nullable=False)  # assigned, ignored, deleted
    intent = Column(String(128), nullable=True)
    user = Column(String(64), nullable=False)
    at = Column(Float, nullable=False)
