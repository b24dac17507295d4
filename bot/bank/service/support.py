"""Support tickets: hand-offs to a person and complaints with a reply deadline."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import BadRequest
from ..models import Binding, SupportTicket
from . import Ctx

log = logging.getLogger(__name__)

KINDS = {"handoff": "H", "complaint": "C"}
COMPLAINT_REPLY_WORKING_DAYS = 2
# Complaint categories and words that name them ("收费" -> 收费问题).
COMPLAINT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "服务态度": ("态度", "服务", "柜员", "大堂经理"),
    "业务办理": ("办理", "效率", "流程", "材料", "开户"),
    "排队等候": ("排队", "等候", "等待", "叫号", "人多"),
    "收费问题": ("收费", "手续费", "年费", "扣费", "费用"),
    "账户资金": ("账户", "资金", "转账", "扣款", "盗刷", "到账"),
    "产品销售": ("理财", "基金", "保险", "销售", "误导", "亏损"),
    "系统故障": ("系统", "故障", "手机银行", "网银", "APP", "ATM", "闪退"),
    "其他": ("其它",),
}
DEFAULT_COMPLAINT_CATEGORY = "其他"


def complaint_category(value: str | None) -> str:
    """The canonical complaint category for ``value`` (a category or a word naming one)."""
    if value is None:
        return DEFAULT_COMPLAINT_CATEGORY
    text = value.strip()
    if text in COMPLAINT_CATEGORIES:
        return text
    found = _named_category(text)
    if found is not None:
        return found
    raise BadRequest(
        f"Unknown complaint category {text!r}.",
        field="category",
        reason="unknown_category",
        allowed=list(COMPLAINT_CATEGORIES),
    )


def _named_category(text: str) -> str | None:
    """The first category (in :data:`COMPLAINT_CATEGORIES` order) one of whose words
    occurs in ``text`` (case-insensitively: app -> APP), else ``None``."""
    upper = text.upper()
    for category, words in COMPLAINT_CATEGORIES.items():
        if any(word.upper() in upper for word in words):
            return category
    return None


def infer_complaint_category(text: str | None, summary: str | None = None) -> str:
    """The category a complaint's own words name: the text first, then the summary;
    :data:`DEFAULT_COMPLAINT_CATEGORY` when neither names one."""
    for value in (text, summary):
        if value and value.strip():
            found = _named_category(value)
            if found is not None:
                return found
    return DEFAULT_COMPLAINT_CATEGORY


def complaint_categories(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    return [
        {"category": category, "keywords": list(words)}
        for category, words in COMPLAINT_CATEGORIES.items()
    ]


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
    """Open a ticket numbered per kind and day, e.g. ``C20261128-0003``. A complaint's
    category is normalised to one of :data:`COMPLAINT_CATEGORIES` (default 其他) and its
    reply is due within two working days. A complaint without a category gets the one
    its text (else its summary) names, see :func:`infer_complaint_category`.

    Two tickets racing for one number collide on the primary key; the caller reruns
    the unit, which then takes the next number.
    """
    if kind == "complaint":
        category = (
            complaint_category(category)
            if category is not None
            else infer_complaint_category(text, summary)
        )
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
