"""Live branch queues: a lazy minute-by-minute advance, queue tickets and 分流 suggestions.

The model, per (branch, service type):

- ``waiting`` people stand in line; ``counters_open`` counters each serve one person in
  ``avg_service_minutes`` on average. The queue moves on a grid of whole clock minutes:
  at each minute the counters add ``counters_open * 60`` counter-seconds of progress and
  every ``avg_service_minutes * 60`` of them calls the person at the front (idle counters
  bank nothing); walk-ins join at the back at ``arrivals_per_hour`` times a time-of-day
  factor (:data:`ARRIVAL_FACTORS`), also with an exact integer carry. While the line does
  not empty this is exactly ``served = floor(minutes * counters / avg)`` and
  ``arrivals = floor(minutes * rate / 60)``, and the result depends only on the clock,
  never on how often the queue is read.
- Queues move only while the branch is open. At closing time waiting tickets expire and
  the line empties; at opening the line starts again with ``opening_waiting`` people and
  numbers restart after them.
- A ticket remembers ``people_ahead``; when that many people plus one have been called
  it is ``called``. Cancelling moves everyone behind up by one.
- Estimated wait = ``ceil(people_ahead * avg_service_minutes / counters_open)``.

Every read advances all queues to ``ctx.now`` under a row lock, so concurrent readers
see one history.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import (
    ActiveTicketExists,
    BadRequest,
    BranchClosed,
    NotFound,
    ServiceNotOffered,
    TicketNotActive,
    TicketNotFound,
    VerificationRequired,
    VipOnly,
)
from ..models import Binding, Branch, BranchQueue, Customer, QueueTicket
from . import Ctx, new_id
from .geo import haversine_km
from .hours import open_periods, opening_state

log = logging.getLogger(__name__)

SERVICE_TYPES = ("个人业务", "对公业务", "外汇", "贵宾")
PREFIXES = {"个人业务": "A", "对公业务": "B", "外汇": "C", "贵宾": "V"}
VIP_SERVICE = "贵宾"

# Walk-in arrivals in percent of a queue's arrivals_per_hour, by hour of the day.
ARRIVAL_FACTORS = {9: 110, 10: 100, 11: 120, 12: 140, 13: 120, 14: 100, 15: 90, 16: 60}
DEFAULT_ARRIVAL_FACTOR = 50
_ARRIVAL_UNIT = 3600 * 100  # arrival progress (person-seconds x percent) per arrival
STEP = timedelta(minutes=1)
MAX_NUMBER = 999
# A suggested branch must stay open at least this long beyond its estimated wait.
ALTERNATIVE_OPEN_MARGIN = timedelta(minutes=30)

WAITING, CALLED, CANCELLED, EXPIRED = "waiting", "called", "cancelled", "expired"


def format_number(service_type: str, number: int) -> str:
    """``("个人业务", 23)`` -> ``A023`` (numbers wrap after 999)."""
    return f"{PREFIXES.get(service_type, 'Q')}{(number - 1) % MAX_NUMBER + 1:03d}"


def estimated_wait(people: int, queue: BranchQueue) -> int:
    """Minutes until ``people`` ahead have been served."""
    return math.ceil(people * queue.avg_service_minutes / max(queue.counters_open, 1))


def _floor_minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _arrival_factor(hour: int) -> int:
    return ARRIVAL_FACTORS.get(hour, DEFAULT_ARRIVAL_FACTOR)


def _close(queue: BranchQueue, tickets: list[QueueTicket], when: datetime) -> None:
    """Closing time: waiting tickets expire and the line empties."""
    for ticket in tickets:
        ticket.status, ticket.closed_at, ticket.active_key = EXPIRED, when, None
    tickets.clear()
    queue.waiting = 0
    queue.service_progress = queue.arrival_progress = 0


def _open(queue: BranchQueue) -> None:
    """Opening time: the morning crowd has taken the first numbers."""
    queue.waiting = queue.opening_waiting
    queue.next_number = queue.opening_waiting + 1
    queue.service_progress = queue.arrival_progress = 0


def _simulate(
    queue: BranchQueue, tickets: list[QueueTicket], start: datetime, stop: datetime
) -> None:
    """Move the queue on from ``start`` to ``stop`` (whole minutes, branch open)."""
    steps = int((stop - start).total_seconds() // 60)
    if steps <= 0:
        return
    unit = max(queue.avg_service_minutes, 1) * 60
    capacity = max(queue.counters_open, 0) * 60
    waiting, number = queue.waiting, queue.next_number
    service, arrivals = queue.service_progress, queue.arrival_progress
    pending = sorted(tickets, key=lambda t: t.people_ahead)
    index = served_total = 0
    for step in range(steps):
        minute = start + step * STEP
        if waiting > 0 and capacity > 0:
            service += capacity
            served = min(waiting, service // unit)
            service -= served * unit
            waiting -= served
            if waiting == 0:
                service = 0  # idle counters bank nothing
            if served:
                served_total += served
                while index < len(pending) and pending[index].people_ahead < served_total:
                    ticket = pending[index]
                    ticket.status, ticket.called_at, ticket.active_key = CALLED, minute + STEP, None
                    index += 1
        else:
            service = 0
        arrivals += queue.arrivals_per_hour * _arrival_factor(minute.hour) * 60
        arrived = arrivals // _ARRIVAL_UNIT
        arrivals -= arrived * _ARRIVAL_UNIT
        waiting += arrived
        number += arrived
    for ticket in pending[index:]:
        ticket.people_ahead -= served_total
    tickets[:] = pending[index:]
    queue.waiting, queue.next_number = waiting, number
    queue.service_progress, queue.arrival_progress = service, arrivals


def advance(queue: BranchQueue, branch: Branch, now: datetime, tickets: list[QueueTicket]) -> None:
    """Bring ``queue`` (and its waiting ``tickets``, updated in place) up to ``now``."""
    end = _floor_minute(now)
    if queue.last_advanced_at is None:  # a row from before live queues: start now
        if not opening_state(branch, end)["open_now"]:
            _close(queue, tickets, end)
        queue.last_advanced_at = queue.updated_at = end
        return
    cursor = _floor_minute(queue.last_advanced_at)
    if end <= cursor:
        return
    periods = open_periods(branch, cursor, end)
    # Only the first period (tickets may still be waiting) and the last one (the
    # state now) matter: every period in between starts afresh and ends closed.
    for opens, closes in periods[:1] + periods[1:][-1:]:
        if cursor < opens:
            _close(queue, tickets, cursor)
            _open(queue)
            cursor = opens
        stop = min(closes, end)
        _simulate(queue, tickets, cursor, stop)
        cursor = stop
        if stop == closes:
            _close(queue, tickets, closes)
    queue.last_advanced_at = queue.updated_at = end


@dataclass
class Live:
    """Every branch and queue, advanced to ``ctx.now`` and locked for this unit of work."""

    ctx: Ctx
    branches: dict[str, Branch]
    queues: dict[tuple[str, str], BranchQueue]
    opening: dict[str, dict[str, Any]] = field(default_factory=dict)

    def branch(self, branch_id: str) -> Branch:
        branch = self.branches.get(branch_id)
        if branch is None:
            raise NotFound(f"No branch {branch_id}.", branch_id=branch_id)
        return branch

    def queues_of(self, branch_id: str) -> list[BranchQueue]:
        found = [q for (b, _), q in self.queues.items() if b == branch_id]
        return sorted(found, key=lambda q: (q.position, q.id))

    def state(self, branch: Branch) -> dict[str, Any]:
        if branch.id not in self.opening:
            self.opening[branch.id] = opening_state(branch, self.ctx.now)
        return self.opening[branch.id]


def live(session: Session, ctx: Ctx) -> Live:
    """Load and advance every queue (a handful of rows) under a row lock."""
    branches = {b.id: b for b in session.execute(select(Branch).order_by(Branch.id)).scalars()}
    rows = session.execute(
        select(BranchQueue).order_by(BranchQueue.branch_id, BranchQueue.position).with_for_update()
    ).scalars()
    queues = {(q.branch_id, q.service_type): q for q in rows}
    waiting: dict[int, list[QueueTicket]] = {}
    for ticket in session.execute(
        select(QueueTicket).where(QueueTicket.status == WAITING).with_for_update()
    ).scalars():
        waiting.setdefault(ticket.queue_id, []).append(ticket)
    for queue in queues.values():
        advance(queue, branches[queue.branch_id], ctx.now, waiting.get(queue.id, []))
    session.flush()
    return Live(ctx=ctx, branches=branches, queues=queues)


def alternative(
    state: Live, branch: Branch, service_type: str, wait_minutes: int
) -> dict[str, Any] | None:
    """分流: a nearby open branch with a clearly shorter wait for the same service, or None.

    Only when ``wait_minutes`` reaches ``queue_divert_wait_minutes``; candidates lie within
    ``queue_divert_radius_km``, save at least ``queue_divert_min_saving_minutes`` and wait
    at most ``queue_divert_max_ratio`` of it, and stay open long enough. The shortest wait
    wins, then the nearest.
    """
    settings = state.ctx.settings
    if wait_minutes < settings.queue_divert_wait_minutes:
        return None
    best: tuple[int, float, Branch, BranchQueue] | None = None
    for other in state.branches.values():
        if other.id == branch.id or service_type not in other.services:
            continue
        queue = state.queues.get((other.id, service_type))
        opening = state.state(other)
        if queue is None or not opening["open_now"]:
            continue
        distance = haversine_km(branch.lat, branch.lng, other.lat, other.lng)
        if distance > settings.queue_divert_radius_km:
            continue
        wait = estimated_wait(queue.waiting, queue)
        if wait > wait_minutes - settings.queue_divert_min_saving_minutes:
            continue
        if wait > wait_minutes * settings.queue_divert_max_ratio:
            continue
        if opening["closes_at"] - state.ctx.now < timedelta(minutes=wait) + ALTERNATIVE_OPEN_MARGIN:
            continue
        if best is None or (wait, distance) < (best[0], best[1]):
            best = (wait, distance, other, queue)
    if best is None:
        return None
    wait, distance, other, queue = best
    return {
        "branch_id": other.id,
        "name": other.name,
        "address": other.address,
        "distance_km": round(distance, 2),
        "waiting": queue.waiting,
        "estimated_wait_minutes": wait,
    }


def queue_view(state: Live, queue: BranchQueue) -> dict[str, Any]:
    branch = state.branches[queue.branch_id]
    opening = state.state(branch)
    offered = queue.service_type in branch.services
    wait = estimated_wait(queue.waiting, queue)
    return {
        "service_type": queue.service_type,
        "waiting": queue.waiting,
        "counters_open": queue.counters_open,
        "avg_service_minutes": queue.avg_service_minutes,
        "estimated_wait_minutes": wait,
        "updated_at": queue.updated_at,
        "branch_id": branch.id,
        "offered": offered,
        "open_now": opening["open_now"],
        "opens_at": opening["opens_at"],
        "next_number": format_number(queue.service_type, queue.next_number),
        "alternative": (
            alternative(state, branch, queue.service_type, wait)
            if offered and opening["open_now"]
            else None
        ),
    }


def ticket_view(state: Live, ticket: QueueTicket) -> dict[str, Any]:
    branch = state.branches[ticket.branch_id]
    queue = state.queues[(ticket.branch_id, ticket.service_type)]
    waiting = ticket.status == WAITING
    wait = estimated_wait(ticket.people_ahead, queue) if waiting else None
    return {
        "ticket_id": ticket.id,
        "number": ticket.number,
        "branch": {
            "branch_id": branch.id,
            "name": branch.name,
            "address": branch.address,
            "phone": branch.phone,
        },
        "service_type": ticket.service_type,
        "status": ticket.status,
        "people_ahead": ticket.people_ahead if waiting else None,
        "estimated_wait_minutes": wait,
        "issued_at": ticket.issued_at,
        "called_at": ticket.called_at,
        "closed_at": ticket.closed_at,
        "alternative": (
            alternative(state, branch, ticket.service_type, wait) if wait is not None else None
        ),
    }


def check_service_type(value: str) -> str:
    if value not in SERVICE_TYPES:
        raise BadRequest(
            f"'service_type' must be one of {', '.join(SERVICE_TYPES)}.",
            field="service_type",
            allowed=list(SERVICE_TYPES),
        )
    return value


def _active_key(channel: str, channel_user_id: str, branch_id: str) -> str:
    return f"{channel}|{channel_user_id}|{branch_id}"


def take_ticket(
    session: Session,
    ctx: Ctx,
    customer: Customer | None,
    *,
    channel: str,
    channel_user_id: str,
    branch_id: str,
    service_type: str,
) -> dict[str, Any]:
    """Issue the next number of a branch's queue to a chat user (one waiting ticket per
    branch); the 贵宾 queue needs a VIP customer's token."""
    check_service_type(service_type)
    state = live(session, ctx)
    branch = state.branch(branch_id)
    if service_type == VIP_SERVICE:
        if customer is None:
            raise VerificationRequired(
                "The 贵宾 queue is for VIP customers; bind first.", level="bind"
            )
        if not customer.vip:
            raise VipOnly(service_type=service_type)
    opening = state.state(branch)
    if not opening["open_now"]:
        raise BranchClosed(
            f"{branch.name} is closed now.",
            branch_id=branch.id,
            opens_at=opening["opens_at"].isoformat() if opening["opens_at"] else None,
        )
    if service_type not in branch.services:
        raise ServiceNotOffered(
            f"{branch.name} does not offer {service_type}.",
            branch_id=branch.id,
            service_type=service_type,
            services=list(branch.services),
        )
    key = _active_key(channel, channel_user_id, branch.id)
    held = session.execute(
        select(QueueTicket).where(QueueTicket.active_key == key)
    ).scalar_one_or_none()
    if held is not None:
        raise ActiveTicketExists(
            ticket_id=held.id,
            number=held.number,
            branch_id=branch.id,
            service_type=held.service_type,
        )
    if customer is None:
        binding = session.execute(
            select(Binding).where(
                Binding.channel == channel, Binding.channel_user_id == channel_user_id
            )
        ).scalar_one_or_none()
        customer_id = binding.customer_id if binding else None
    else:
        customer_id = customer.id
    queue = state.queues[(branch.id, service_type)]
    ticket = QueueTicket(
        id=new_id("QT", 14),
        queue_id=queue.id,
        branch_id=branch.id,
        service_type=service_type,
        number=format_number(service_type, queue.next_number),
        channel=channel,
        channel_user_id=channel_user_id,
        customer_id=customer_id,
        status=WAITING,
        people_ahead=queue.waiting,
        active_key=key,
        issued_at=ctx.now,
    )
    queue.next_number += 1
    queue.waiting += 1
    session.add(ticket)
    session.flush()
    log.info(
        "queue ticket %s issued at %s %s (%d ahead, %s user)",
        ticket.number,
        branch.id,
        service_type,
        ticket.people_ahead,
        channel,
    )
    return ticket_view(state, ticket)


def list_tickets(
    session: Session, ctx: Ctx, *, channel: str, channel_user_id: str
) -> list[dict[str, Any]]:
    """The chat user's tickets of today that are waiting or called, newest first."""
    state = live(session, ctx)
    today = ctx.now.replace(hour=0, minute=0, second=0, microsecond=0)
    stmt = (
        select(QueueTicket)
        .where(
            QueueTicket.channel == channel,
            QueueTicket.channel_user_id == channel_user_id,
            QueueTicket.status.in_((WAITING, CALLED)),
            QueueTicket.issued_at >= today,
        )
        .order_by(QueueTicket.issued_at.desc(), QueueTicket.id.desc())
    )
    return [ticket_view(state, t) for t in session.execute(stmt).scalars()]


def cancel_ticket(
    session: Session, ctx: Ctx, ticket_id: str, *, channel: str, channel_user_id: str
) -> dict[str, Any]:
    """Cancel the owner's waiting ticket; everyone behind moves up by one."""
    state = live(session, ctx)
    ticket = session.get(QueueTicket, ticket_id)
    if ticket is None or ticket.channel != channel or ticket.channel_user_id != channel_user_id:
        raise TicketNotFound(ticket_id=ticket_id)
    if ticket.status != WAITING:
        raise TicketNotActive(
            f"Ticket {ticket.number} is {ticket.status}.",
            ticket_id=ticket.id,
            number=ticket.number,
            status=ticket.status,
        )
    queue = state.queues[(ticket.branch_id, ticket.service_type)]
    behind = session.execute(
        select(QueueTicket).where(
            QueueTicket.queue_id == queue.id,
            QueueTicket.status == WAITING,
            QueueTicket.people_ahead > ticket.people_ahead,
        )
    ).scalars()
    for other in behind:
        other.people_ahead -= 1
    ticket.status, ticket.closed_at, ticket.active_key = CANCELLED, ctx.now, None
    queue.waiting = max(queue.waiting - 1, 0)
    session.flush()
    log.info("queue ticket %s at %s cancelled", ticket.number, ticket.branch_id)
    return ticket_view(state, ticket)
