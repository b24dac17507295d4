"""Support tickets: hand-offs to a person, complaints and disputes with a reply deadline.

Hand-offs: at most one active (open or in progress) per chat user; asking again returns
it (``existing``), and an urgent request upgrades a normal one. Open hand-offs wait in
one line, urgent ones first, then by creation; the expected wait is
``handoff_base_wait_minutes + position * handoff_minutes_per_ticket`` while 在线人工客服 is
open (its hours are the ``online_staff`` contact), else null. Staff move a ticket
open -> in_progress -> closed (or open -> closed) with PATCH; anything else is 409.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import (
    BadRequest,
    InvalidTicketTransition,
    SupportTicketNotFound,
    TicketClosed,
    VerificationRequired,
)
from ..models import Account, Binding, SupportTicket, Transaction
from . import Ctx
from .info import online_staff

log = logging.getLogger(__name__)

KINDS = {"handoff": "H", "complaint": "C", "dispute": "D"}
COMPLAINT_REPLY_WORKING_DAYS = 2
REPLY_WORKING_DAYS = {"complaint": COMPLAINT_REPLY_WORKING_DAYS, "dispute": 2}
OPEN, IN_PROGRESS, CLOSED = "open", "in_progress", "closed"
STATUSES = (OPEN, IN_PROGRESS, CLOSED)
ACTIVE = (OPEN, IN_PROGRESS)
# status -> the statuses staff may move it to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OPEN: (IN_PROGRESS, CLOSED),
    IN_PROGRESS: (CLOSED,),
    CLOSED: (),
}
PRIORITIES = ("urgent", "normal")
# Why a customer wants a person (stable codes); the first ones are urgent by default.
URGENT_REASONS = ("fraud", "stolen_card")
HANDOFF_REASONS = (
    *URGENT_REASONS,
    "lost_card",
    "disputed_transfer",
    "disputed_charge",
    "complaint",
    "account_issue",
    "other",
)
# Defaults of the hand-off wait estimate; Settings fields of the same names win.
HANDOFF_MINUTES_PER_TICKET = 6
HANDOFF_BASE_WAIT_MINUTES = 2
MAX_DETAILS = 20
MAX_TRANSACTION_IDS = 10
TRANSACTION_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")
# Dispute categories and words that name them; none named -> 交易异议.
DISPUTE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "重复扣款": ("重复", "扣了两次", "扣两次", "多扣", "扣了两笔", "两次"),
    "转错账": ("转错", "错转", "转账错", "错账", "转给了别人"),
    "交易异议": ("盗刷", "不是我", "没消费", "没有消费", "不认识", "异议", "争议", "未授权"),
}
DEFAULT_DISPUTE_CATEGORY = "交易异议"
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
    """The category whose words occur most often in ``text`` (case-insensitively:
    app -> APP; "app转账老是闪退" is a fault, not a funds matter), the first in
    :data:`COMPLAINT_CATEGORIES` order on a tie, else ``None``."""
    upper = text.upper()
    best, best_hits = None, 0
    for category, words in COMPLAINT_CATEGORIES.items():
        hits = sum(word.upper() in upper for word in words)
        if hits > best_hits:
            best, best_hits = category, hits
    return best


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


def _setting(ctx: Ctx, name: str, default: int) -> int:
    return int(getattr(ctx.settings, name, default))


def dispute_category(value: str | None, text: str | None = None) -> str:
    """A dispute's category: one of :data:`DISPUTE_CATEGORIES` or a word naming one;
    without one, the first category the text names, else 交易异议."""
    if value is not None:
        named = value.strip()
        found = named if named in DISPUTE_CATEGORIES else _named(named, DISPUTE_CATEGORIES)
        if found is not None:
            return found
        raise BadRequest(
            f"Unknown dispute category {value.strip()!r}.",
            field="category",
            reason="unknown_category",
            allowed=list(DISPUTE_CATEGORIES),
        )
    return (text and _named(text, DISPUTE_CATEGORIES)) or DEFAULT_DISPUTE_CATEGORY


def _named(text: str, categories: dict[str, tuple[str, ...]]) -> str | None:
    upper = text.upper()
    for category, words in categories.items():
        if any(word.upper() in upper for word in words):
            return category
    return None


def _rank(ticket: SupportTicket) -> int:
    return 0 if ticket.priority == "urgent" else 1  # legacy rows (None) count as normal


def _handoff_line(session: Session) -> list[str]:
    """Ids of the open hand-offs in the order staff take them: urgent first, then oldest."""
    rows = session.execute(
        select(SupportTicket).where(SupportTicket.kind == "handoff", SupportTicket.status == OPEN)
    ).scalars()
    return [t.id for t in sorted(rows, key=lambda t: (_rank(t), t.created_at, t.id))]


def ticket_view(
    ticket: SupportTicket,
    ctx: Ctx | None = None,
    *,
    line: list[str] | None = None,
    hours: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ticket without what the customer wrote (the list route is keyed by a chat
    user id only); hand-offs also get the line (``line``) and 人工客服's hours (``hours``)."""
    details = list(ticket.details or [])
    view: dict[str, Any] = {
        "ticket_id": ticket.id,
        "kind": ticket.kind,
        "channel": ticket.channel,
        "channel_user_id": ticket.channel_user_id,
        "customer_id": ticket.customer_id,
        "category": ticket.category,
        "summary": ticket.summary,
        "status": ticket.status,
        "priority": ticket.priority,
        "reason": ticket.reason,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at or ticket.created_at,
        "taken_at": ticket.taken_at,
        "closed_at": ticket.closed_at,
        "reply_due": ticket.reply_due,
        "transaction_ids": list(ticket.transaction_ids or []),
        "details_count": len(details),
        "last_detail_at": details[-1]["at"] if details else None,
    }
    if ticket.kind == "handoff" and ctx is not None and hours is not None:
        position = None
        if ticket.status == OPEN and line is not None and ticket.id in line:
            position = line.index(ticket.id)
        wait = None
        if position is not None and hours["open_now"]:
            wait = _setting(ctx, "handoff_base_wait_minutes", HANDOFF_BASE_WAIT_MINUTES) + (
                position * _setting(ctx, "handoff_minutes_per_ticket", HANDOFF_MINUTES_PER_TICKET)
            )
        view.update(
            {
                "within_hours": hours["open_now"],
                "hours": hours["hours"],
                "next_open": hours["next_open"],
                "position": position,
                "expected_wait_minutes": wait,
            }
        )
    return view


def _views(session: Session, ctx: Ctx, tickets: list[SupportTicket]) -> list[dict[str, Any]]:
    if not any(t.kind == "handoff" for t in tickets):
        return [ticket_view(t) for t in tickets]
    line, hours = _handoff_line(session), online_staff(session, ctx)
    return [ticket_view(t, ctx, line=line, hours=hours) for t in tickets]


def _next_id(session: Session, ctx: Ctx, kind: str) -> str:
    prefix = f"{KINDS[kind]}{ctx.now:%Y%m%d}-"
    last = session.execute(
        select(SupportTicket.id)
        .where(SupportTicket.id.like(prefix + "%"))
        .order_by(SupportTicket.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:04d}"


def _customer_id(session: Session, channel: str, channel_user_id: str) -> str | None:
    binding = session.execute(
        select(Binding).where(
            Binding.channel == channel, Binding.channel_user_id == channel_user_id
        )
    ).scalar_one_or_none()
    return binding.customer_id if binding else None


def _check_transactions(
    session: Session, customer_id: str | None, transaction_ids: list[str]
) -> list[str]:
    """The ids, each a transaction of the bound customer (else 400, naming none of
    them as someone else's)."""
    if customer_id is None:
        raise VerificationRequired(
            "Transactions can be named only by a chat user bound to a customer.", level="bind"
        )
    wanted = list(dict.fromkeys(transaction_ids))
    found = set(
        session.execute(
            select(Transaction.id)
            .join(Account, Account.id == Transaction.account_id)
            .where(Account.customer_id == customer_id, Transaction.id.in_(wanted))
        ).scalars()
    )
    unknown = [t for t in wanted if t not in found]
    if unknown:
        raise BadRequest(
            "Unknown transaction id(s) for this customer.",
            field="transaction_ids",
            reason="unknown_transaction",
            transaction_ids=unknown,
        )
    return wanted


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
    priority: str | None = None,
    reason: str | None = None,
    transaction_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Open a ticket numbered per kind and day, e.g. ``C20261128-0003``; the view has
    ``existing`` (true when an active hand-off was returned instead).

    A complaint's category is normalised to one of :data:`COMPLAINT_CATEGORIES`
    (default: the one its text, else its summary, names; else 其他), a dispute's to one
    of :data:`DISPUTE_CATEGORIES`; both are answered within two working days
    (``reply_due``). A dispute may name the bound customer's ``transaction_ids``.
    Two tickets racing for one number (or two hand-offs of one user) collide on a
    unique key; the caller reruns the unit.
    """
    if kind != "handoff" and (priority is not None or reason is not None):
        raise BadRequest(
            "'priority' and 'reason' are for hand-offs.",
            field="priority" if priority is not None else "reason",
        )
    if kind != "dispute" and transaction_ids:
        raise BadRequest("'transaction_ids' are for disputes.", field="transaction_ids")
    customer_id = _customer_id(session, channel, channel_user_id)
    if kind == "handoff":
        return _handoff(
            session,
            ctx,
            channel=channel,
            channel_user_id=channel_user_id,
            customer_id=customer_id,
            category=category,
            text=text,
            summary=summary,
            priority=priority,
            reason=reason,
        )
    if kind == "complaint":
        category = (
            complaint_category(category)
            if category is not None
            else infer_complaint_category(text, summary)
        )
    else:
        category = dispute_category(category, " ".join(x for x in (text, summary) if x))
    ids = _check_transactions(session, customer_id, transaction_ids) if transaction_ids else []
    ticket = SupportTicket(
        id=_next_id(session, ctx, kind),
        kind=kind,
        channel=channel,
        channel_user_id=channel_user_id,
        customer_id=customer_id,
        category=category,
        text=text,
        summary=summary,
        status=OPEN,
        created_at=ctx.now,
        updated_at=ctx.now,
        reply_due=add_working_days(ctx.now.date(), REPLY_WORKING_DAYS[kind]),
        transaction_ids=ids or None,
        details=[],
    )
    session.add(ticket)
    session.flush()
    log.info("support ticket %s opened (%s, %s)", ticket.id, kind, channel)
    return {**ticket_view(ticket), "existing": False}


def _handoff(
    session: Session,
    ctx: Ctx,
    *,
    channel: str,
    channel_user_id: str,
    customer_id: str | None,
    category: str | None,
    text: str | None,
    summary: str | None,
    priority: str | None,
    reason: str | None,
) -> dict[str, Any]:
    """The chat user's active hand-off (upgraded when this request is urgent) or a new
    one; a hand-off's category is free text, kept as given."""
    if priority is not None and priority not in PRIORITIES:
        raise BadRequest(
            f"'priority' must be one of {', '.join(PRIORITIES)}.",
            field="priority",
            allowed=list(PRIORITIES),
        )
    if reason is not None and reason not in HANDOFF_REASONS:
        raise BadRequest(
            f"'reason' must be one of {', '.join(HANDOFF_REASONS)}.",
            field="reason",
            allowed=list(HANDOFF_REASONS),
        )
    wanted = priority or ("urgent" if reason in URGENT_REASONS else "normal")
    held = session.execute(
        select(SupportTicket)
        .where(
            SupportTicket.kind == "handoff",
            SupportTicket.channel == channel,
            SupportTicket.channel_user_id == channel_user_id,
            SupportTicket.status.in_(ACTIVE),
        )
        .order_by(SupportTicket.created_at, SupportTicket.id)
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()
    if held is not None and held.created_at.date() < ctx.now.date():
        # Nobody took it on an earlier day: that request lapsed with its service day.
        held.status, held.updated_at = CLOSED, ctx.now
        held.closed_at, held.active_key = ctx.now, None
        session.flush()
        log.info("hand-off %s lapsed (opened on an earlier day)", held.id)
        held = None
    if held is not None:
        if wanted == "urgent" and held.priority != "urgent":
            held.priority, held.updated_at = "urgent", ctx.now
            held.reason = reason or held.reason
            log.info("hand-off %s upgraded to urgent (%s)", held.id, held.reason or "-")
        elif reason is not None and held.reason is None:
            held.reason, held.updated_at = reason, ctx.now
        if held.customer_id is None and customer_id is not None:
            held.customer_id = customer_id
        session.flush()
        return {**_views(session, ctx, [held])[0], "existing": True}
    ticket = SupportTicket(
        id=_next_id(session, ctx, "handoff"),
        kind="handoff",
        channel=channel,
        channel_user_id=channel_user_id,
        customer_id=customer_id,
        category=category,
        text=text,
        summary=summary,
        status=OPEN,
        created_at=ctx.now,
        updated_at=ctx.now,
        reply_due=None,
        priority=wanted,
        reason=reason,
        active_key=f"{channel}|{channel_user_id}",
    )
    session.add(ticket)
    session.flush()
    log.info("hand-off %s opened (%s, %s, %s)", ticket.id, wanted, reason or "-", channel)
    return {**_views(session, ctx, [ticket])[0], "existing": False}


def list_tickets(
    session: Session,
    ctx: Ctx,
    *,
    channel_user_id: str,
    channel: str | None,
    kind: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """The chat user's tickets, newest first (at most 50)."""
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"'kind' must be one of {', '.join(KINDS)}.", field="kind")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"'status' must be one of {', '.join(STATUSES)}.", field="status")
    stmt = select(SupportTicket).where(SupportTicket.channel_user_id == channel_user_id)
    if channel:
        stmt = stmt.where(SupportTicket.channel == channel)
    if kind:
        stmt = stmt.where(SupportTicket.kind == kind)
    if status:
        stmt = stmt.where(SupportTicket.status == status)
    stmt = stmt.order_by(SupportTicket.created_at.desc(), SupportTicket.id.desc()).limit(50)
    return _views(session, ctx, list(session.execute(stmt).scalars()))


def _locked(session: Session, ticket_id: str) -> SupportTicket:
    ticket = session.execute(
        select(SupportTicket).where(SupportTicket.id == ticket_id).with_for_update()
    ).scalar_one_or_none()
    if ticket is None:
        raise SupportTicketNotFound(ticket_id=ticket_id)
    return ticket


def update_status(session: Session, ctx: Ctx, ticket_id: str, status: str) -> dict[str, Any]:
    """Staff take a ticket (open -> in_progress) or finish it (-> closed); a closed
    hand-off frees the chat user for a new one."""
    if status not in STATUSES:
        raise BadRequest(
            f"'status' must be one of {', '.join(STATUSES)}.", field="status", allowed=STATUSES
        )
    ticket = _locked(session, ticket_id)
    allowed = TRANSITIONS.get(ticket.status, ())
    if status not in allowed:
        raise InvalidTicketTransition(
            f"A ticket that is {ticket.status} cannot become {status}.",
            ticket_id=ticket.id,
            status=ticket.status,
            requested=status,
            allowed=list(allowed),
        )
    previous, ticket.status, ticket.updated_at = ticket.status, status, ctx.now
    if status == IN_PROGRESS:
        ticket.taken_at = ctx.now
    else:
        ticket.closed_at, ticket.active_key = ctx.now, None
    session.flush()
    log.info("support ticket %s: %s -> %s", ticket.id, previous, status)
    return _views(session, ctx, [ticket])[0]


def add_details(
    session: Session, ctx: Ctx, ticket_id: str, *, channel: str, channel_user_id: str, text: str
) -> dict[str, Any]:
    """Append what the customer adds to their open complaint or dispute (with the
    time); a complaint filed under 其他 takes the category the new words name."""
    ticket = _locked(session, ticket_id)
    if ticket.channel != channel or ticket.channel_user_id != channel_user_id:
        raise SupportTicketNotFound(ticket_id=ticket_id)  # not telling whose it is
    if ticket.kind not in REPLY_WORKING_DAYS:
        raise BadRequest(
            "Details are added to complaints and disputes.", field="ticket_id", reason="wrong_kind"
        )
    if ticket.status not in ACTIVE:
        raise TicketClosed(ticket_id=ticket.id, status=ticket.status)
    details = list(ticket.details or [])
    if len(details) >= MAX_DETAILS:
        raise BadRequest(
            f"A ticket takes at most {MAX_DETAILS} additions.", field="text", reason="too_many"
        )
    details.append({"at": ctx.now.isoformat(), "text": text})
    ticket.details = details  # a new list, so the JSON column is written
    ticket.updated_at = ctx.now
    if ticket.kind == "complaint" and ticket.category == DEFAULT_COMPLAINT_CATEGORY:
        ticket.category = infer_complaint_category(text)
    session.flush()
    log.info("support ticket %s: details added (%d)", ticket.id, len(details))
    return ticket_view(ticket)
