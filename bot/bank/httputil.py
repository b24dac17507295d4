"""HTTP plumbing shared by the route modules: JSON responses, bodies, units of work."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from .db import run_unit_async
from .errors import BadRequest
from .keys import CLOCK, EXECUTOR, SESSIONS, SETTINGS
from .models import Customer
from .service import Ctx
from .service.auth import authenticate
from .validation import parse_json_object

T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    """JSON with Decimal as strings and dates in ISO 8601, Chinese kept readable."""
    return json.dumps(data, default=_default, ensure_ascii=False)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def ctx_of(request: web.Request) -> Ctx:
    """Settings plus one reading of the (injectable) clock for this request."""
    return Ctx(settings=request.app[SETTINGS], now=request.app[CLOCK]())


async def unit(request: web.Request, work: Callable[[Session, Ctx], T], *, retries: int = 0) -> T:
    """Run ``work(session, ctx)`` as one transaction on the database worker pool."""
    ctx = ctx_of(request)
    return await run_unit_async(
        request.app[SESSIONS],
        request.app[EXECUTOR],
        lambda session: work(session, ctx),
        retries=retries,
    )


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authed(
    request: web.Request,
    work: Callable[[Session, Ctx, Customer], T],
    *,
    step_up: bool = False,
    retries: int = 0,
) -> T:
    """Like :func:`unit`, after resolving the bearer token to a customer in the same
    transaction (``step_up`` demands a recent verification)."""
    token = bearer_token(request)

    def run(session: Session, ctx: Ctx) -> T:
        customer = authenticate(session, ctx, token, step_up=step_up)
        return work(session, ctx, customer)

    return await unit(request, run, retries=retries)


async def maybe_authed(
    request: web.Request,
    work: Callable[[Session, Ctx, Customer | None], T],
    *,
    retries: int = 0,
) -> T:
    """Like :func:`authed` when a bearer token is sent (it must then be valid), else
    ``work`` gets ``None`` for the customer."""
    token = bearer_token(request)
    if token is None and "Authorization" not in request.headers:
        return await unit(request, lambda s, ctx: work(s, ctx, None), retries=retries)

    def run(session: Session, ctx: Ctx) -> T:
        customer = authenticate(session, ctx, token, step_up=False)
        return work(session, ctx, customer)

    return await unit(request, run, retries=retries)


async def read_body(request: web.Request, allowed: Iterable[str]) -> dict[str, Any]:
    """The JSON object body, refusing malformed JSON and unknown fields."""
    raw = await request.read()
    return parse_json_object(raw, allowed)


def query(request: web.Request, allowed: Iterable[str]) -> dict[str, str]:
    """Query parameters, refusing unknown ones and repeated ones."""
    params = request.rel_url.query
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequest(
            f"Unknown query parameter(s): {', '.join(unknown)}.",
            reason="unknown_fields",
            fields=unknown,
        )
    result: dict[str, str] = {}
    for key in params:
        values = params.getall(key)
        if len(values) > 1:
            raise BadRequest(f"'{key}' is given more than once.", field=key)
        result[key] = values[0]
    return result
