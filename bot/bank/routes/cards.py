"""Cards and their state changes."""

from __future__ import annotations

import re

from aiohttp import web

from ..errors import CardNotFound
from ..httputil import authed, json_response, query
from ..service import cards as service

routes = web.RouteTableDef()

LAST4 = re.compile(r"^\d{4}$")


@routes.get("/cards", allow_head=False)
async def list_cards(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await authed(request, service.list_cards))


async def _change(request: web.Request, action: str) -> web.Response:
    last4 = request.match_info["last4"]
    if not LAST4.match(last4):
        raise CardNotFound("A card is named by the last 4 digits of its number.", last4=last4)
    result = await authed(
        request,
        lambda s, ctx, customer: service.change_state(s, ctx, customer, last4, action),
        step_up=True,
    )
    return json_response(result)


@routes.post("/cards/{last4}/report-lost")
async def report_lost(request: web.Request) -> web.Response:
    return await _change(request, "report_lost")


@routes.post("/cards/{last4}/freeze")
async def freeze(request: web.Request) -> web.Response:
    return await _change(request, "freeze")


@routes.post("/cards/{last4}/unfreeze")
async def unfreeze(request: web.Request) -> web.Response:
    return await _change(request, "unfreeze")
