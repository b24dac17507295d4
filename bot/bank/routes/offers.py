"""Next-best offer (compliant marketing) and declining offers."""

from __future__ import annotations

import re

from aiohttp import web

from ..httputil import authed, json_response, query, read_body
from ..service import offers as service
from ..validation import require_str

routes = web.RouteTableDef()

OFFER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


@routes.get("/offers/next", allow_head=False)
async def next_offer(request: web.Request) -> web.Response:
    params = query(request, ("context",))
    context = service.parse_context(params.get("context"))
    result = await authed(
        request, lambda s, ctx, customer: service.next_offer(s, ctx, customer, context=context)
    )
    return json_response(result)


@routes.post("/offers/decline")
async def decline_offers(request: web.Request) -> web.Response:
    raw = await request.read()
    body = await read_body(request, ("offer_id",)) if raw.strip() else {}
    offer_id = require_str(body, "offer_id", pattern=OFFER_ID, max_len=64, required=False) or None
    result = await authed(
        request,
        lambda s, ctx, customer: service.decline_offers(s, ctx, customer, offer_id=offer_id),
        retries=1,
    )
    return json_response(result)
