"""Support tickets (hand-offs, complaints, disputes), their status and added details."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ..errors import BadRequest, SupportTicketNotFound
from ..httputil import json_response, query, read_body, unit
from ..service import support as service
from ..validation import CHANNEL_RE, CHANNEL_USER_RE, require_str
from .auth import channel_user

routes = web.RouteTableDef()

TICKET_ID = re.compile(r"^[A-Z]\d{8}-\d{4}$")
CODE = re.compile(r"^[a-z][a-z_]{0,31}$")


def _transaction_ids(body: dict[str, Any]) -> list[str] | None:
    value = body.get("transaction_ids")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("'transaction_ids' must be a list of strings.", field="transaction_ids")
    if len(value) > service.MAX_TRANSACTION_IDS:
        raise BadRequest(
            f"At most {service.MAX_TRANSACTION_IDS} transaction ids.", field="transaction_ids"
        )
    ids = [v.strip() for v in value]
    if not all(service.TRANSACTION_ID.match(v) for v in ids):
        raise BadRequest("A transaction id has an invalid format.", field="transaction_ids")
    return ids


def _ticket_id(request: web.Request) -> str:
    ticket_id = request.match_info["ticket_id"]
    if not TICKET_ID.match(ticket_id):
        raise SupportTicketNotFound(ticket_id=ticket_id[:40])
    return ticket_id


@routes.post("/support/tickets")
async def create_ticket(request: web.Request) -> web.Response:
    body = await read_body(
        request,
        (
            "kind",
            "channel",
            "channel_user_id",
            "category",
            "text",
            "summary",
            "priority",
            "reason",
            "transaction_ids",
        ),
    )
    kind = require_str(body, "kind", max_len=16)
    if kind not in service.KINDS:
        raise BadRequest(
            f"'kind' must be one of {', '.join(service.KINDS)}.",
            field="kind",
            allowed=list(service.KINDS),
        )
    channel, user = channel_user(body)
    category = require_str(body, "category", max_len=50, required=False) or None
    text = require_str(body, "text", max_len=2000, required=False) or None
    summary = require_str(body, "summary", max_len=2000, required=False) or None
    priority = require_str(body, "priority", max_len=16, required=False) or None
    reason = require_str(body, "reason", pattern=CODE, max_len=32, required=False) or None
    transaction_ids = _transaction_ids(body)
    result = await unit(
        request,
        lambda s, ctx: service.create_ticket(
            s,
            ctx,
            kind=kind,
            channel=channel,
            channel_user_id=user,
            category=category,
            text=text,
            summary=summary,
            priority=priority,
            reason=reason,
            transaction_ids=transaction_ids,
        ),
        retries=3,
    )
    return json_response(result, status=200 if result["existing"] else 201)


@routes.get("/support/tickets", allow_head=False)
async def list_tickets(request: web.Request) -> web.Response:
    params = query(request, ("channel_user_id", "channel", "kind", "status"))
    user = require_str(params, "channel_user_id", pattern=CHANNEL_USER_RE, max_len=128)
    channel = require_str(params, "channel", pattern=CHANNEL_RE, max_len=32, required=False)
    kind = params.get("kind") or None
    status = params.get("status") or None
    assert user is not None
    result = await unit(
        request,
        lambda s, ctx: service.list_tickets(
            s, ctx, channel_user_id=user, channel=channel or None, kind=kind, status=status
        ),
    )
    return json_response(result)


@routes.patch("/support/tickets/{ticket_id}")
async def update_ticket(request: web.Request) -> web.Response:
    """Staff take (in_progress) or finish (closed) a ticket."""
    ticket_id = _ticket_id(request)
    body = await read_body(request, ("status",))
    status = require_str(body, "status", max_len=16)
    assert status is not None
    result = await unit(
        request, lambda s, ctx: service.update_status(s, ctx, ticket_id, status)
    )
    return json_response(result)


@routes.post("/support/tickets/{ticket_id}/details")
async def add_details(request: web.Request) -> web.Response:
    ticket_id = _ticket_id(request)
    body = await read_body(request, ("channel", "channel_user_id", "text"))
    channel, user = channel_user(body)
    text = require_str(body, "text", max_len=2000)
    assert text is not None
    result = await unit(
        request,
        lambda s, ctx: service.add_details(
            s, ctx, ticket_id, channel=channel, channel_user_id=user, text=text
        ),
    )
    return json_response(result)


@routes.get("/support/complaint-categories", allow_head=False)
async def complaint_categories(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await unit(request, service.complaint_categories))
