"""Support tickets (hand-offs and complaints)."""

from __future__ import annotations

from aiohttp import web

from ..errors import BadRequest
from ..httputil import json_response, query, read_body, unit
from ..service import support as service
from ..validation import CHANNEL_RE, CHANNEL_USER_RE, require_str
from .auth import channel_user

routes = web.RouteTableDef()


@routes.post("/support/tickets")
async def create_ticket(request: web.Request) -> web.Response:
    body = await read_body(
        request, ("kind", "channel", "channel_user_id", "category", "text", "summary")
    )
    kind = require_str(body, "kind", max_len=16)
    if kind not in service.KINDS:
        raise BadRequest("'kind' must be handoff or complaint.", field="kind")
    channel, user = channel_user(body)
    category = require_str(body, "category", max_len=50, required=False) or None
    text = require_str(body, "text", max_len=2000, required=False) or None
    summary = require_str(body, "summary", max_len=2000, required=False) or None
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
        ),
        retries=3,
    )
    return json_response(result, status=201)


@routes.get("/support/tickets", allow_head=False)
async def list_tickets(request: web.Request) -> web.Response:
    params = query(request, ("channel_user_id", "channel"))
    user = require_str(params, "channel_user_id", pattern=CHANNEL_USER_RE, max_len=128)
    channel = require_str(params, "channel", pattern=CHANNEL_RE, max_len=32, required=False)
    assert user is not None
    result = await unit(
        request,
        lambda s, ctx: service.list_tickets(s, ctx, channel_user_id=user, channel=channel or None),
    )
    return json_response(result)


@routes.get("/support/complaint-categories", allow_head=False)
async def complaint_categories(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await unit(request, service.complaint_categories))
