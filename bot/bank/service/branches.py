"""Branches, their opening hours and live queues."""

from __future__ import annotations

import difflib
import math
import re
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import Branch, BranchQueue
from . import Ctx

_NOISE = re.compile(
    r"上海市?|沪银银行|沪银|银行|分行|支行|网点|营业厅|附近|那个|这个|的|[\s,，。?？!！]"
)


def queue_view(queue: BranchQueue) -> dict[str, Any]:
    counters = max(queue.counters_open, 1)
    return {
        "service_type": queue.service_type,
        "waiting": queue.waiting,
        "counters_open": queue.counters_open,
        "avg_service_minutes": queue.avg_service_minutes,
        "estimated_wait_minutes": math.ceil(queue.waiting * queue.avg_service_minutes / counters),
        "updated_at": queue.updated_at,
    }


def _hours(branch: Branch, weekend: bool) -> tuple[str, str] | None:
    if weekend:
        if branch.weekend_open and branch.weekend_close:
            return branch.weekend_open, branch.weekend_close
        return None
    return branch.weekday_open, branch.weekday_close


def _at(day: datetime, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day.date(), time(hour, minute), day.tzinfo)


def opening_state(branch: Branch, now: datetime) -> dict[str, Any]:
    """``open_now`` plus ``closes_at`` (when open) or ``opens_at`` (when closed)."""
    today = _hours(branch, now.weekday() >= 5)
    if today and _at(now, today[0]) <= now < _at(now, today[1]):
        return {"open_now": True, "opens_at": None, "closes_at": _at(now, today[1])}
    if today and now < _at(now, today[0]):
        return {"open_now": False, "opens_at": _at(now, today[0]), "closes_at": None}
    for days in range(1, 8):
        day = now + timedelta(days=days)
        hours = _hours(branch, day.weekday() >= 5)
        if hours:
            return {"open_now": False, "opens_at": _at(day, hours[0]), "closes_at": None}
    return {"open_now": False, "opens_at": None, "closes_at": None}  # pragma: no cover


def branch_view(branch: Branch, ctx: Ctx, distance_km: float | None = None) -> dict[str, Any]:
    weekend = _hours(branch, True)
    view: dict[str, Any] = {
        "branch_id": branch.id,
        "name": branch.name,
        "city": branch.city,
        "area": branch.area,
        "address": branch.address,
        "phone": branch.phone,
        "lat": branch.lat,
        "lng": branch.lng,
        "hours": {
            "weekday": f"{branch.weekday_open}-{branch.weekday_close}",
            "weekend": f"{weekend[0]}-{weekend[1]}" if weekend else None,
        },
        "services": list(branch.services),
        "aliases": list(branch.aliases),
        "distance_km": distance_km,
        "queues": [queue_view(q) for q in branch.queues],
    }
    view.update(opening_state(branch, ctx.now))
    return view


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _core(text: str) -> str:
    return _NOISE.sub("", text)


def _matches(branch: Branch, query: str) -> bool:
    names = [_core(branch.name), *(_core(a) for a in branch.aliases)]
    names = [n for n in names if n]
    if any(query in n or n in query for n in names):
        return True
    if query in branch.area or query in branch.address:
        return True
    return any(difflib.SequenceMatcher(None, query, n).ratio() >= 0.6 for n in names)


def list_branches(
    session: Session,
    ctx: Ctx,
    *,
    q: str | None,
    area: str | None,
    lat: float | None,
    lng: float | None,
) -> list[dict[str, Any]]:
    """Branches matching a fuzzy name/alias query and an area; by distance when located."""
    branches = list(session.execute(select(Branch).order_by(Branch.id)).scalars())
    if q:
        query = _core(q)
        if query:
            branches = [b for b in branches if _matches(b, query)]
    if area:
        wanted = _core(area).removesuffix("区") or area
        branches = [b for b in branches if wanted in b.area or wanted in b.address]
    if lat is not None and lng is not None:
        located = [(haversine_km(lat, lng, b.lat, b.lng), b) for b in branches]
        located.sort(key=lambda pair: pair[0])
        return [branch_view(b, ctx, round(d, 2)) for d, b in located]
    return [branch_view(b, ctx) for b in branches]


def _branch(session: Session, branch_id: str) -> Branch:
    branch = session.get(Branch, branch_id)
    if branch is None:
        raise NotFound(f"No branch {branch_id}.", branch_id=branch_id)
    return branch


def get_branch(session: Session, ctx: Ctx, branch_id: str) -> dict[str, Any]:
    return branch_view(_branch(session, branch_id), ctx)


def branch_queues(session: Session, ctx: Ctx, branch_id: str) -> list[dict[str, Any]]:
    return [queue_view(q) for q in _branch(session, branch_id).queues]
