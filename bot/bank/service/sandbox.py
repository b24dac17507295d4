"""Sandbox-only views and actions (the SMS outbox, resetting the demo data)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import SmsMessage
from ..seed import reset_demo_state
from . import Ctx
from .auth import normalize_phone


def sms_outbox(session: Session, ctx: Ctx, phone: str | None) -> list[dict[str, Any]]:
    """Messages "sent" by the sandbox, newest first (at most 50)."""
    stmt = select(SmsMessage)
    if phone:
        stmt = stmt.where(SmsMessage.phone == normalize_phone(phone))
    stmt = stmt.order_by(SmsMessage.id.desc()).limit(50)
    return [
        {"phone": m.phone, "text": m.text, "code": m.code, "sent_at": m.sent_at}
        for m in session.execute(stmt).scalars()
    ]


def reset(session: Session, ctx: Ctx) -> dict[str, Any]:
    """Restore every customer's state to the freshly seeded demo data (see
    :func:`bot.bank.seed.reset_demo_state`), at the bank's current time."""
    return reset_demo_state(session, ctx.now)
