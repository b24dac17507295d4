"""One-time codes and channel bindings."""

from __future__ import annotations

from aiohttp import web

from ..httputil import json_response, read_body, unit
from ..service import auth as service
from ..validation import CHANNEL_RE, CHANNEL_USER_RE, require_str

routes = web.RouteTableDef()


def channel_user(data: dict) -> tuple[str, str]:
    channel = require_str(data, "channel", pattern=CHANNEL_RE, max_len=32)
    user = require_str(data, "channel_user_id", pattern=CHANNEL_USER_RE, max_len=128)
    assert channel is not None and user is not None
    return channel, user


@routes.post("/auth/otp")
async def request_otp(request: web.Request) -> web.Response:
    body = await read_body(request, ("channel", "channel_user_id", "phone"))
    channel, user = channel_user(body)
    phone = require_str(body, "phone", max_len=20, required=False) or None
    result = await unit(request, lambda s, ctx: service.request_otp(s, ctx, channel, user, phone))
    return json_response(result, status=202)


@routes.post("/auth/otp/verify")
async def verify_otp(request: web.Request) -> web.Response:
    body = await read_body(request, ("channel", "channel_user_id", "code"))
    channel, user = channel_user(body)
    code = require_str(body, "code", max_len=12)
    assert code is not None
    result = await unit(
        request, lambda s, ctx: service.verify_otp(s, ctx, channel, user, code), retries=1
    )
    return json_response(result)


@routes.get("/bindings/{channel}/{channel_user_id}", allow_head=False)
async def get_binding(request: web.Request) -> web.Response:
    channel, user = channel_user(dict(request.match_info))
    result = await unit(request, lambda s, ctx: service.get_binding(s, ctx, channel, user))
    return json_response(result)
