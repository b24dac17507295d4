"""Public information: the bank's clock, hotlines and hours, housing-loan rates."""

from __future__ import annotations

import re

from aiohttp import web

from ..errors import BadRequest
from ..httputil import ctx_of, json_response, query, unit
from ..service import info as service

routes = web.RouteTableDef()

CONTACT_CODE = re.compile(r"^[a-z][a-z_]{0,31}$")


@routes.get("/time", allow_head=False)
async def bank_time(request: web.Request) -> web.Response:
    """The bank's "now" and "today" in Beijing time (the sandbox clock when set)."""
    query(request, ())
    return json_response(service.bank_time(ctx_of(request)))


@routes.get("/info/contacts", allow_head=False)
async def contacts(request: web.Request) -> web.Response:
    params = query(request, ("code",))
    code = params.get("code") or None
    if code is not None and not CONTACT_CODE.match(code):
        raise BadRequest("'code' is a contact code such as online_staff.", field="code")
    return json_response(await unit(request, lambda s, ctx: service.contacts(s, ctx, code)))


@routes.get("/loans/mortgage-rates", allow_head=False)
async def mortgage_rates(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await unit(request, service.mortgage_rates))
