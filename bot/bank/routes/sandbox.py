"""Sandbox-only routes: mounted only when the settings profile is "sandbox"."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from ..clock import FakeClock, SandboxClock
from ..errors import BadRequest
from ..httputil import json_response, query, read_body, unit
from ..keys import CLOCK
from ..service import sandbox as service

routes = web.RouteTableDef()


@routes.get("/sandbox/sms-outbox", allow_head=False)
async def sms_outbox(request: web.Request) -> web.Response:
    params = query(request, ("phone",))
    phone = (params.get("phone") or "").strip() or None
    return json_response(await unit(request, lambda s, ctx: service.sms_outbox(s, ctx, phone)))


@routes.post("/sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    """Every customer's state back to the seeded demo data; the clock does not move."""
    raw = await request.read()
    if raw.strip():
        await read_body(request, ())  # only an empty object is accepted
    return json_response(await unit(request, service.reset))


@routes.get("/sandbox/clock", allow_head=False)
async def get_clock(request: web.Request) -> web.Response:
    query(request, ())
    return json_response({"now": request.app[CLOCK]()})


@routes.post("/sandbox/clock")
async def move_clock(request: web.Request) -> web.Response:
    """Jump the bank's clock (``{"set": ISO time}``) or move it (``{"advance_minutes": n}``).

    Only a :class:`SandboxClock` (``python -m bot.bank``) can be moved; queues follow it.
    """
    body = await read_body(request, ("set", "advance_minutes"))
    clock = request.app[CLOCK]
    if not isinstance(clock, (SandboxClock, FakeClock)):
        raise BadRequest("This bank's clock cannot be moved.", field="clock")
    if "set" in body:
        try:
            when = datetime.fromisoformat(str(body["set"]))
        except ValueError as exc:
            raise BadRequest("'set' must be an ISO 8601 time.", field="set") from exc
        clock.set(when)
    if "advance_minutes" in body:
        minutes = body["advance_minutes"]
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 <= minutes <= 60 * 24 * 30:
            raise BadRequest("'advance_minutes' must be a number from 0 to 43200.", field="advance_minutes")
        clock.advance(minutes=float(minutes))
    return json_response({"now": clock()})
