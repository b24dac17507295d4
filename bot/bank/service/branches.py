"""Branches: fuzzy search by name, area, landmark or coordinates, with live queues."""

from __future__ import annotations

import difflib
import re
from typing import Any

from sqlalchemy.orm import Session

from ..models import Branch
from . import Ctx
from .geo import haversine_km, landmark
from .hours import opening_state
from .queues import Live, live, queue_view

__all__ = ["branch_queues", "get_branch", "haversine_km", "list_branches", "opening_state"]

_NOISE = re.compile(
    r"上海市?|沪银银行|沪银|银行|分行|支行|网点|营业厅|附近|那个|这个|的|[\s,，。?？!！]"
)
# A place from the gazetteer lists the branches within this distance (at least one).
NEARBY_KM = 5.0


def branch_view(state: Live, branch: Branch, distance_km: float | None = None) -> dict[str, Any]:
    weekend = (branch.weekend_open, branch.weekend_close)
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
            "weekend": f"{weekend[0]}-{weekend[1]}" if all(weekend) else None,
        },
        "services": list(branch.services),
        "aliases": list(branch.aliases),
        "distance_km": distance_km,
        "queues": [queue_view(state, q) for q in state.queues_of(branch.id)],
    }
    view.update(state.state(branch))
    return view


def _core(text: str) -> str:
    return _NOISE.sub("", text)


def _names(branch: Branch) -> list[str]:
    names = [_core(branch.name), *(_core(a) for a in branch.aliases)]
    return [n for n in names if n]


def _matches(branch: Branch, query: str) -> bool:
    names = _names(branch)
    if any(query in n or n in query for n in names):
        return True
    if query in branch.area or query in branch.address:
        return True
    return any(difflib.SequenceMatcher(None, query, n).ratio() >= 0.6 for n in names)


def _in_area(branch: Branch, wanted: str) -> bool:
    return (
        wanted in branch.area
        or wanted in branch.address
        or any(wanted in n or n in wanted for n in _names(branch))
    )


def _nearby(branches: list[Branch], point: tuple[float, float]) -> list[tuple[float, Branch]]:
    located = sorted(
        ((haversine_km(point[0], point[1], b.lat, b.lng), b) for b in branches),
        key=lambda pair: pair[0],
    )
    return [pair for pair in located if pair[0] <= NEARBY_KM] or located[:1]


def list_branches(
    session: Session,
    ctx: Ctx,
    *,
    q: str | None,
    area: str | None,
    lat: float | None,
    lng: float | None,
) -> list[dict[str, Any]]:
    """Branches matching a fuzzy name/alias query and an area (a district, a street or a
    known place such as 外滩: then the nearby ones); by distance when located."""
    state = live(session, ctx)
    branches = list(state.branches.values())
    point: tuple[float, float] | None = None
    for text, match in ((q, _matches), (area, _in_area)):
        if not text:
            continue
        wanted = _core(text)
        if match is _in_area:
            wanted = wanted.removesuffix("区") or text
        if not wanted:
            continue
        found = [b for b in branches if match(b, wanted)]
        place = landmark(wanted) if not found else None
        if place is not None:
            found = [b for _, b in _nearby(branches, place)]
            point = point or place
        branches = found
    if lat is not None and lng is not None:
        point = (lat, lng)
    if point is not None:
        located = [(haversine_km(point[0], point[1], b.lat, b.lng), b) for b in branches]
        located.sort(key=lambda pair: pair[0])
        return [branch_view(state, b, round(d, 2)) for d, b in located]
    return [branch_view(state, b) for b in branches]


def get_branch(session: Session, ctx: Ctx, branch_id: str) -> dict[str, Any]:
    state = live(session, ctx)
    return branch_view(state, state.branch(branch_id))


def branch_queues(session: Session, ctx: Ctx, branch_id: str) -> list[dict[str, Any]]:
    """The live queues of a branch, each with its 分流 suggestion."""
    state = live(session, ctx)
    state.branch(branch_id)
    return [queue_view(state, q) for q in state.queues_of(branch_id)]
