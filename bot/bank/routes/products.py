"""Products and foreign-exchange reference rates (public)."""

from __future__ import annotations

from aiohttp import web

from ..httputil import json_response, query, unit
from ..service import products as service

routes = web.RouteTableDef()


@routes.get("/products", allow_head=False)
async def list_products(request: web.Request) -> web.Response:
    params = query(request, ("type", "max_risk"))
    type_ = params.get("type") or None
    max_risk = params.get("max_risk") or None
    result = await unit(
        request, lambda s, ctx: service.list_products(s, ctx, type_=type_, max_risk=max_risk)
    )
    return json_response(result)


@routes.get("/products/{code}", allow_head=False)
async def get_product(request: web.Request) -> web.Response:
    code = request.match_info["code"][:32]
    return json_response(await unit(request, lambda s, ctx: service.get_product(s, ctx, code)))


@routes.get("/fx-rates", allow_head=False)
async def fx_rates(request: web.Request) -> web.Response:
    query(request, ())
    return json_response(await unit(request, service.fx_rates))
