"""Queue tickets: take, list (live positions) and cancel, per chat user."""

from __future__ import annotations

import re

from aiohttp import web

from ..errors import TicketNotFound
from ..httputil import json_response, maybe_authed, query, read_body, unit
from ..service import queues as service
from ..validation import CHANNEL_RE, CHANNEL_USER_RE, require_str
from .auth import channel_user

routes = web.RouteTableDef()

TICKET_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


@routes.post("/queue/tickets")
async def take_ticket(request: web.Request) -> web.Response:
    body = await read_body(request, ("channel", "channel_user_id", "branch_id", "service_type"))
    channel, user = channel_user(body)
    branch_id = require_str(body, "branch_id", max_len=16)
    service_type = require_str(body, "service_type", max_len=16)
    assert branch_id is not None and service_type is not None
    service.check_service_type(service_type)
    result = await maybe_authed(
        request,
        lambda s, ctx, customer: service.take_ticket(
            s,
            ctx,
            customer,
            channel=channel,
            channel_user_id=user,
            branch_id=branch_id,
            service_type=service_type,
        ),
        retries=1,
    )
    return json_response(result, status=201)


@routes.get("/queue/tickets", allow_head=False)
async def list_tickets(request: web.Request) -> web.Response:
    params = query(request, ("channel", "channel_user_id"))
    channel = require_str(params, "channel", pattern=CHANNEL_RE, max_len=32)
    user = require_str(params, "channel_user_id", pattern=CHANNEL_USER_RE, max_len=128)
    assert channel is not None and user is not None
    result = await unit(
        request,
        lambda s, ctx: service.list_tickets(s, ctx, channel=channel, channel_user_id=user),
    )
    return json_response(result)


@routes.post("/queue/tickets/{ticket_id}/cancel")
async def cancel_ticket(request: web.Request) -> web.Response:
    ticket_id = request.match_info["ticket_id"]
    body = await read_body(request, ("channel", "channel_user_id"))
    channel, user = channel_user(body)
    if not TICKET_ID.match(ticket_id):
        raise TicketNotFound(ticket_id=ticket_id[:40])
    result = await unit(
        request,
        lambda s, ctx: service.cancel_ticket(
            s, ctx, ticket_id, channel=channel, channel_user_id=user
        ),
    )
    return json_response(result)
