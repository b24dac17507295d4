"""Client of the bank's support service: tickets (hand-offs, complaints, disputes) and
the bank's hotlines with their hours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..settings import Settings
from .http import ServiceClient, segment, to_datetime, to_optional_date, to_optional_datetime
from .types import BankContact, ComplaintCategory, SupportTicket


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ticket(data: dict[str, Any]) -> SupportTicket:
    within = data.get("within_hours")
    return SupportTicket(
        ticket_id=data["ticket_id"],
        kind=data["kind"],
        created_at=to_datetime(data["created_at"]),
        reply_due=to_optional_date(data.get("reply_due")),
        status=data.get("status", "open"),
        category=data.get("category"),
        summary=data.get("summary"),
        priority=data.get("priority"),
        reason=data.get("reason"),
        updated_at=to_optional_datetime(data.get("updated_at")),
        taken_at=to_optional_datetime(data.get("taken_at")),
        closed_at=to_optional_datetime(data.get("closed_at")),
        transaction_ids=tuple(data.get("transaction_ids") or ()),
        details_count=int(data.get("details_count", 0)),
        last_detail_at=to_optional_datetime(data.get("last_detail_at")),
        existing=bool(data.get("existing", False)),
        within_hours=None if within is None else bool(within),
        hours=data.get("hours"),
        next_open=to_optional_datetime(data.get("next_open")),
        position=_optional_int(data.get("position")),
        expected_wait_minutes=_optional_int(data.get("expected_wait_minutes")),
    )


def _contact(data: dict[str, Any]) -> BankContact:
    return BankContact(
        code=data["code"],
        name=data["name"],
        phone=data.get("phone"),
        other_phones=tuple(data.get("other_phones") or ()),
        email=data.get("email"),
        hours=data["hours"],
        days=data["days"],
        opens=data.get("opens"),
        closes=data.get("closes"),
        open_now=bool(data["open_now"]),
        next_open=to_optional_datetime(data.get("next_open")),
        closes_at=to_optional_datetime(data.get("closes_at")),
        note=data.get("note"),
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
        priority: str | None = None,
        reason: str | None = None,
        transaction_ids: Sequence[str] | None = None,
    ) -> SupportTicket:
        """Open a ``handoff``, ``complaint`` or ``dispute`` ticket.

        Complaints and disputes get a reply_due date two working days later; a
        complaint's category is normalised (收费 -> 收费问题; unknown: BadRequest with
        details.allowed), a dispute's is 重复扣款, 转错账 or 交易异议; a dispute may name
        the bound customer's ``transaction_ids``. A hand-off (``priority`` urgent|normal,
        ``reason`` such as "fraud") returns the chat user's active one when there is one
        (``existing``; urgent upgrades it), with the line and 人工客服 hours filled in.
        """
        body: dict[str, Any] = {
            "kind": kind,
            "channel": channel,
            "channel_user_id": channel_user_id,
        }
        for key, value in (
            ("category", category),
            ("text", text),
            ("summary", summary),
            ("priority", priority),
            ("reason", reason),
        ):
            if value is not None:
                body[key] = value
        if transaction_ids is not None:
            body["transaction_ids"] = list(transaction_ids)
        return _ticket(await self.request("POST", "/support/tickets", json_body=body))

    async def list_tickets(
        self,
        channel_user_id: str,
        *,
        channel: str | None = None,
        kind: str | None = None,
        status: str | None = None,
    ) -> list[SupportTicket]:
        """The chat user's tickets, newest first (at most 50)."""
        params = {
            "channel_user_id": channel_user_id,
            "channel": channel,
            "kind": kind,
            "status": status,
        }
        return [_ticket(t) for t in await self.request("GET", "/support/tickets", params=params)]

    async def update_ticket_status(self, ticket_id: str, status: str) -> SupportTicket:
        """Staff take (``in_progress``) or finish (``closed``) a ticket; an impossible
        move (also taking a ticket someone already took) raises InvalidTicketTransition."""
        path = f"/support/tickets/{segment(ticket_id)}"
        return _ticket(await self.request("PATCH", path, json_body={"status": status}))

    async def add_ticket_details(
        self, ticket_id: str, channel: str, channel_user_id: str, text: str
    ) -> SupportTicket:
        """Add what the customer says later to their open complaint or dispute
        (SupportTicketNotFound when it is not theirs, TicketClosed when closed)."""
        path = f"/support/tickets/{segment(ticket_id)}/details"
        body = {"channel": channel, "channel_user_id": channel_user_id, "text": text}
        return _ticket(await self.request("POST", path, json_body=body))

    async def complaint_categories(self) -> list[ComplaintCategory]:
        data = await self.request("GET", "/support/complaint-categories")
        return [
            ComplaintCategory(category=c["category"], keywords=tuple(c["keywords"])) for c in data
        ]

    async def contacts(self) -> list[BankContact]:
        """The bank's hotlines and desks with their hours, in the bank's order."""
        return [_contact(c) for c in await self.request("GET", "/info/contacts")]

    async def contact(self, code: str) -> BankContact:
        """One contact, e.g. ``online_staff`` (open_now, next_open) or ``press_office``."""
        data = await self.request("GET", "/info/contacts", params={"code": code})
        return _contact(data[0])
