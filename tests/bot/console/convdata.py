"""Test helpers for the conversation list, search, transcripts and exports (not a test module).

Conversations are written the way the ingest writes them (rows plus
``search.index_message`` for user/bot/staff text); staff sign in with a real
session row and cookie, which the real auth middleware loads.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.console import search
from bot.console.auth import SESSION_COOKIE, hash_token
from bot.console.db import ensure_schema, make_engine, make_sessionmaker
from bot.console.models import Conversation, Message, StaffSession, StaffUser, Tag
from bot.settings import Settings

CST = timezone(timedelta(hours=8))
PG_ADMIN_URL = os.environ.get(
    "BANKBOT_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def at(day: str, clock: str = "12:00:00") -> float:
    """Epoch seconds of ``day`` ``clock`` in China time."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=CST).timestamp()


def make_settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "BANKBOT_DATA_DIR": str(tmp_path),
            "WEB_PORT": "0",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
            **env,
        }
    )


def open_db(url: str) -> tuple[Engine, sessionmaker]:
    engine = make_engine(url)
    ensure_schema(engine)
    return engine, make_sessionmaker(engine)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); skips when no server answers."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:  # pragma: no cover
        pytest.skip("psycopg2 is not installed")
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2}, future=True
    )
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "skip"
        admin.dispose()
        pytest.skip(f"no PostgreSQL server: {exc.__class__.__name__}")
    name = f"bankbot_conv_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_conversation(
    session: Session,
    *,
    last_at: float,
    messages: list[tuple[str, str | None] | dict[str, Any]] = (),  # type: ignore[assignment]
    sender: str | None = None,
    channel: str = "wechat",
    started_at: float | None = None,
    status: str = "bot",
    intent: str | None = None,
    confidence: float | None = None,
    fallback: bool = False,
    complaint: bool = False,
    low_confidence: bool = False,
    tags: tuple[str, ...] = (),
    customer_label: str = "",
    customer_id: str | None = None,
    urgent_reason: str | None = None,
) -> Conversation:
    """One conversation; ``messages`` are ``(kind, text)`` or Message field dicts, 1 s apart."""
    conv = Conversation(
        sender_id=sender or f"s-{uuid.uuid4().hex[:10]}",
        channel=channel,
        customer_id=customer_id,
        customer_label=customer_label,
        started_at=started_at if started_at is not None else last_at - len(messages),
        last_at=last_at,
        last_intent=intent,
        last_confidence=confidence,
        status=status,
        flag_fallback=fallback,
        flag_complaint=complaint,
        flag_low_confidence=low_confidence,
        flagged=fallback or complaint or low_confidence or bool(urgent_reason),
        message_count=len(messages),
        urgent_reason=urgent_reason,
    )
    session.add(conv)
    session.flush()
    rows = []
    for i, item in enumerate(messages):
        fields = {"kind": item[0], "text": item[1]} if isinstance(item, tuple) else dict(item)
        fields.setdefault("ts", conv.started_at + i)
        fields.setdefault("channel", channel)
        rows.append(Message(conversation_id=conv.id, **fields))
    session.add_all(rows)
    for tag in tags:
        session.add(Tag(conversation_id=conv.id, tag=tag))
    session.flush()
    for row in rows:
        if row.kind in ("user", "bot", "staff") and row.text:
            search.index_message(session, conv.id, row.id, row.text)
    return conv


def ensure_user(session: Session, username: str, role: str, display_name: str = "") -> StaffUser:
    user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    if user is None:
        user = StaffUser(
            username=username,
            display_name=display_name or username,
            role=role,
            password_hash="!unusable",
            created_at=time.time(),
        )
        session.add(user)
        session.flush()
    return user


def sign_in(client: Any, factory: sessionmaker, role: str, username: str | None = None) -> str:
    """Give ``client`` a session of a ``role`` account (created if needed); returns its CSRF token."""
    username = username or f"{role}1"
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with factory() as session:
        user = ensure_user(session, username, role, display_name=f"{role}-显示名")
        now = time.time()
        session.add(
            StaffSession(
                token_hash=hash_token(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + 3600,
                ip="127.0.0.1",
            )
        )
        session.commit()
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
    return csrf
