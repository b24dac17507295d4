"""Client of the bank's branch and queue service."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .http import ServiceClient, segment, to_datetime, to_optional_datetime
from .types import Branch, BranchQueue, QueueAlternative, QueueStatus, QueueTicket


def _queue(data: dict[str, Any]) -> BranchQueue:
    return BranchQueue(
        service_type=data["service_type"],
        waiting=int(data["waiting"]),
        counters_open=int(data["counters_open"]),
        avg_service_minutes=int(data["avg_service_minutes"]),
        estimated_wait_minutes=int(data["estimated_wait_minutes"]),
        updated_at=to_datetime(data["updated_at"]),
    )


def _alternative(data: dict[str, Any] | None) -> QueueAlternative | None:
    if not data:
        return None
    return QueueAlternative(
        branch_id=data["branch_id"],
        name=data["name"],
        address=data.get("address", ""),
        distance_km=float(data["distance_km"]),
        waiting=int(data.get("waiting", 0)),
        estimated_wait_minutes=int(data["estimated_wait_minutes"]),
    )


def _status(data: dict[str, Any]) -> QueueStatus:
    return QueueStatus(
        branch_id=data["branch_id"],
        service_type=data["service_type"],
        waiting=int(data["waiting"]),
        counters_open=int(data["counters_open"]),
        avg_service_minutes=int(data["avg_service_minutes"]),
        estimated_wait_minutes=int(data["estimated_wait_minutes"]),
        offered=bool(data["offered"]),
        open_now=bool(data["open_now"]),
        opens_at=to_optional_datetime(data.get("opens_at")),
        next_number=data["next_number"],
        alternative=_alternative(data.get("alternative")),
        updated_at=to_datetime(data["updated_at"]),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ticket(data: dict[str, Any]) -> QueueTicket:
    branch = data["branch"]
    return QueueTicket(
        ticket_id=data["ticket_id"],
        number=data["number"],
        branch_id=branch["branch_id"],
        branch_name=branch["name"],
        branch_address=branch.get("address", ""),
        branch_phone=branch.get("phone", ""),
        service_type=data["service_type"],
        status=data["status"],
        people_ahead=_optional_int(data.get("people_ahead")),
        estimated_wait_minutes=_optional_int(data.get("estimated_wait_minutes")),
        issued_at=to_datetime(data["issued_at"]),
        called_at=to_optional_datetime(data.get("called_at")),
        closed_at=to_optional_datetime(data.get("closed_at")),
        alternative=_alternative(data.get("alternative")),
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
    """Branches (fuzzy search, nearest first with a location), their live queues with
    the bank's 分流 suggestion, and queue tickets held by a chat user."""

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

    async def queue_status(self, branch_id: str) -> list[QueueStatus]:
        """The live queues of a branch (open/closed, next number, 分流 ``alternative``)."""
        data = await self.request("GET", f"/branches/{segment(branch_id)}/queues")
        return [_status(q) for q in data]

    async def take_ticket(
        self,
        channel: str,
        channel_user_id: str,
        branch_id: str,
        service_type: str,
        *,
        token: str | None = None,
    ) -> QueueTicket:
        """Take a number (贵宾 needs a VIP customer's ``token``).

        Raises BranchClosed (``.opens_at``), ActiveTicketExists, ServiceNotOffered,
        VipOnly, VerificationRequired or NotFound.
        """
        body = {
            "channel": channel,
            "channel_user_id": channel_user_id,
            "branch_id": branch_id,
            "service_type": service_type,
        }
        return _ticket(await self.request("POST", "/queue/tickets", json_body=body, token=token))

    async def list_tickets(self, channel: str, channel_user_id: str) -> list[QueueTicket]:
        """Today's waiting or called tickets of the chat user, newest first, live."""
        params = {"channel": channel, "channel_user_id": channel_user_id}
        return [_ticket(t) for t in await self.request("GET", "/queue/tickets", params=params)]

    async def cancel_ticket(
        self, ticket_id: str, channel: str, channel_user_id: str
    ) -> QueueTicket:
        """Cancel the chat user's waiting ticket (TicketNotFound, TicketNotActive)."""
        body = {"channel": channel, "channel_user_id": channel_user_id}
        path = f"/queue/tickets/{segment(ticket_id)}/cancel"
        return _ticket(await self.request("POST", path, json_body=body))
