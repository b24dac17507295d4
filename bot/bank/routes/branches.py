"""Branches and their queues (public)."""

from __future__ import annotations

from aiohttp import web

from ..errors import BadRequest
from ..httputil import json_response, query, unit
from ..service import branches as service
from ..validation import parse_float

routes = web.RouteTableDef()


@routes.get("/branches", allow_head=False)
async def list_branches(request: web.Request) -> web.Response:
    params = query(request, ("q", "area", "lat", "lng"))
    q = (params.get("q") or "").strip()[:50] or None
    area = (params.get("area") or "").strip()[:30] or None
    lat = parse_float(params.get("lat"), "lat", minimum=-90, maximum=90)
    lng = parse_float(params.get("lng"), "lng", minimum=-180, maximum=180)
    if (lat is None) != (lng is None):
        raise BadRequest("'lat' and 'lng' go together.", field="lat" if lat is None else "lng")
    result = await unit(
        request, lambda s, ctx: service.list_branches(s, ctx, q=q, area=area, lat=lat, lng=lng)
    )
    return json_response(result)


@routes.get("/branches/{branch_id}", allow_head=False)
async def get_branch(request: web.Request) -> web.Response:
    branch_id = request.match_info["branch_id"][:16]
    return json_response(await unit(request, lambda s, ctx: service.get_branch(s, ctx, branch_id)))


@routes.get("/branches/{branch_id}/queues", allow_head=False)
async def branch_queues(request: web.Request) -> web.Response:
    branch_id = request.match_info["branch_id"][:16]
    result = await unit(request, lambda s, ctx: service.branch_queues(s, ctx, branch_id))
    return json_response(result)
