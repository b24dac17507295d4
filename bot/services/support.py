"""Client of the bank's support-ticket service (hand-offs and complaints)."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .http import ServiceClient, to_date, to_datetime
from .types import ComplaintCategory, SupportTicket


def _ticket(data: dict[str, Any]) -> SupportTicket:
    due = data.get("reply_due")
    return SupportTicket(
        ticket_id=data["ticket_id"],
        kind=data["kind"],
        created_at=to_datetime(data["created_at"]),
        reply_due=None if due is None else to_date(due),
        status=data.get("status", "open"),
        category=data.get("category"),
        summary=data.get("summary"),
    )


class SupportClient(ServiceClient):
    @classmethod
    def from_settings(cls, settings: Settings) -> SupportClient:
        return cls(settings.bank_url, timeout=settings.service_timeout)

    async def create_ticket(
        self,
        kind: str,
        channel: str,
        channel_user_id: str,
        *,
        category: str | None = None,
        text: str | None = None,
        summary: str | None = None,
    ) -> SupportTicket:
        """Open a ``handoff`` or ``complaint`` ticket (complaints get a reply_due date two
        working days later; their category is normalised, e.g. 收费 -> 收费问题, and an
        unknown one raises BadRequest with details.allowed)."""
        body: dict[str, Any] = {
            "kind": kind,
            "channel": channel,
            "channel_user_id": channel_user_id,
        }
        for key, value in (("category", category), ("text", text), ("summary", summary)):
            if value is not None:
                body[key] = value
        return _ticket(await self.request("POST", "/support/tickets", json_body=body))

    async def list_tickets(
        self, channel_user_id: str, *, channel: str | None = None
    ) -> list[SupportTicket]:
        params = {"channel_user_id": channel_user_id, "channel": channel}
        return [_ticket(t) for t in await self.request("GET", "/support/tickets", params=params)]

    async def complaint_categories(self) -> list[ComplaintCategory]:
        data = await self.request("GET", "/support/complaint-categories")
        return [
            ComplaintCategory(category=c["category"], keywords=tuple(c["keywords"])) for c in data
        ]
