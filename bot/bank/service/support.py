"""Support tickets: hand-offs to a person and complaints with a reply deadline."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Binding, SupportTicket
from . import Ctx

log = logging.getLogger(__name__)

KINDS = {"handoff": "H", "complaint": "C"}
COMPLAINT_REPLY_WORKING_DAYS = 2


def add_working_days(start: date, days: int) -> date:
    """``start`` plus ``days`` working days (Monday to Friday)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def ticket_view(ticket: SupportTicket) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "kind": ticket.kind,
        "channel": ticket.channel,
        "channel_user_id": ticket.channel_user_id,
        "customer_id": ticket.customer_id,
        "category": ticket.category,
        "summary": ticket.summary,
        "status": ticket.status,
        "created_at": ticket.created_at,
        "reply_due": ticket.reply_due,
    }


def create_ticket(
    session: Session,
    ctx: Ctx,
    *,
    kind: str,
    channel: str,
    channel_user_id: str,
    category: str | None,
    text: str | None,
    summary: str | None,
) -> dict[str, Any]:
    """Open a ticket numbered per kind and day, e.g. ``C20261128-0003``.

    Two tickets racing for one number collide on the primary key; the caller reruns
    the unit, which then takes the next number.
    """
    prefix = f"{KINDS[kind]}{ctx.now:%Y%m%d}-"
    last = session.execute(
        select(SupportTicket.id)
        .where(SupportTicket.id.like(prefix + "%"))
        .order_by(SupportTicket.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    binding = session.execute(
        select(Binding).where(
            Binding.channel == channel, Binding.channel_user_id == channel_user_id
        )
    ).scalar_one_or_none()
    ticket = SupportTicket(
        id=f"{prefix}{number:04d}",
        kind=kind,
        channel=channel,
        channel_user_id=channel_user_id,
        customer_id=binding.customer_id if binding else None,
        category=category,
        text=text,
        summary=summary,
        status="open",
        created_at=ctx.now,
        reply_due=(
            add_working_days(ctx.now.date(), COMPLAINT_REPLY_WORKING_DAYS)
            if kind == "complaint"
            else None
        ),
    )
    session.add(ticket)
    session.flush()
    log.info("support ticket %s opened (%s, %s)", ticket.id, kind, channel)
    return ticket_view(ticket)


def list_tickets(
    session: Session, ctx: Ctx, *, channel_user_id: str, channel: str | None
) -> list[dict[str, Any]]:
    stmt = select(SupportTicket).where(SupportTicket.channel_user_id == channel_user_id)
    if channel:
        stmt = stmt.where(SupportTicket.channel == channel)
    stmt = stmt.order_by(SupportTicket.created_at.desc(), SupportTicket.id.desc()).limit(50)
    return [ticket_view(t) for t in session.execute(stmt).scalars()]
