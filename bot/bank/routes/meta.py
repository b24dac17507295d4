"""Health and the OpenAPI document."""

from __future__ import annotations

import yaml
from aiohttp import web

from ..httputil import json_response
from ..keys import OPENAPI

routes = web.RouteTableDef()


@routes.get("/health", allow_head=False)
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/openapi.json", allow_head=False)
async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


@routes.get("/openapi.yaml", allow_head=False)
async def openapi_yaml(request: web.Request) -> web.Response:
    text = yaml.safe_dump(request.app[OPENAPI], allow_unicode=True, sort_keys=False)
    return web.Response(text=text, content_type="application/yaml")
