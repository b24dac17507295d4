"""Sandbox-only routes: mounted only when the settings profile is "sandbox"."""

from __future__ import annotations

from aiohttp import web

from ..httputil import json_response, query, unit
from ..service import sandbox as service

routes = web.RouteTableDef()


@routes.get("/sandbox/sms-outbox", allow_head=False)
async def sms_outbox(request: web.Request) -> web.Response:
    params = query(request, ("phone",))
    phone = (params.get("phone") or "").strip() or None
    return json_response(await unit(request, lambda s, ctx: service.sms_outbox(s, ctx, phone)))
