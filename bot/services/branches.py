"""Client of the bank's branch and queue service."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .http import ServiceClient, segment, to_datetime, to_optional_datetime
from .types import Branch, BranchQueue


def _queue(data: dict[str, Any]) -> BranchQueue:
    return BranchQueue(
        service_type=data["service_type"],
        waiting=int(data["waiting"]),
        counters_open=int(data["counters_open"]),
        avg_service_minutes=int(data["avg_service_minutes"]),
        estimated_wait_minutes=int(data["estimated_wait_minutes"]),
        updated_at=to_datetime(data["updated_at"]),
    )


def _branch(data: dict[str, Any]) -> Branch:
    hours = data.get("hours") or {}
    distance = data.get("distance_km")
    return Branch(
        branch_id=data["branch_id"],
        name=data["name"],
        city=data["city"],
        area=data["area"],
        address=data["address"],
        phone=data["phone"],
        lat=float(data["lat"]),
        lng=float(data["lng"]),
        weekday_hours=hours.get("weekday", ""),
        weekend_hours=hours.get("weekend"),
        services=tuple(data.get("services") or ()),
        aliases=tuple(data.get("aliases") or ()),
        open_now=bool(data["open_now"]),
        opens_at=to_optional_datetime(data.get("opens_at")),
        closes_at=to_optional_datetime(data.get("closes_at")),
        queues=tuple(_queue(q) for q in data.get("queues") or ()),
        distance_km=None if distance is None else float(distance),
    )


class BranchesClient(ServiceClient):
    """Branches (fuzzy search, nearest first with a location) and their live queues."""

    @classmethod
    def from_settings(cls, settings: Settings) -> BranchesClient:
        return cls(settings.bank_url, timeout=settings.service_timeout)

    async def list_branches(
        self,
        *,
        q: str | None = None,
        area: str | None = None,
        lat: float | None = None,
        lng: float | None = None,
    ) -> list[Branch]:
        params = {"q": q, "area": area, "lat": lat, "lng": lng}
        return [_branch(b) for b in await self.request("GET", "/branches", params=params)]

    async def get_branch(self, branch_id: str) -> Branch:
        return _branch(await self.request("GET", f"/branches/{segment(branch_id)}"))

    async def branch_queues(self, branch_id: str) -> list[BranchQueue]:
        data = await self.request("GET", f"/branches/{segment(branch_id)}/queues")
        return [_queue(q) for q in data]
