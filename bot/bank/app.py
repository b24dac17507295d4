"""The bank's aiohttp application: factory, database lifecycle and error middleware."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy.engine import make_url

from ..settings import Settings
from .clock import Clock, system_now
from .db import make_engine, make_sessionmaker
from .errors import BankError
from .httputil import json_response
from .keys import CLOCK, ENGINE, EXECUTOR, OPENAPI, SESSIONS, SETTINGS
from .masking import mask_text
from .models import ensure_schema
from .routes import setup_routes

log = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
MAX_BODY_BYTES = 64 * 1024

# The one place where a domain refusal becomes an HTTP status.
STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "otp_invalid": 400,
    "otp_not_requested": 400,
    "verification_required": 401,
    "forbidden": 403,
    "vip_only": 403,
    "not_found": 404,
    "customer_not_found": 404,
    "card_not_found": 404,
    "payee_not_found": 404,
    "ticket_not_found": 404,
    "support_ticket_not_found": 404,
    "invalid_card_state": 409,
    "idempotency_conflict": 409,
    "branch_closed": 409,
    "ticket_not_active": 409,
    "active_ticket_exists": 409,
    "risk_assessment_required": 409,
    "invalid_ticket_transition": 409,
    "ticket_closed": 409,
    "otp_expired": 410,
    "insufficient_funds": 422,
    "limit_exceeded": 422,
    "service_not_offered": 422,
    "product_not_suitable": 422,
    "below_minimum": 422,
    "otp_locked": 429,
}

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every refusal into ``{"error": {code, message, details}}`` with its status."""
    try:
        return await handler(request)
    except BankError as exc:
        status = STATUS_BY_CODE.get(exc.code, 400)
        response = json_response(error_body(exc.code, exc.message, exc.details), status=status)
        retry_after = exc.details.get("retry_after")
        if status == 429 and retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        details: dict[str, Any] = {}
        if exc.status == 405:
            details["allowed"] = sorted(getattr(exc, "allowed_methods", ()) or ())
        return json_response(error_body(code, exc.reason, details), status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(
            error_body("internal_error", "The bank could not complete the request."), status=500
        )


class MaskingAccessLogger(AbstractAccessLogger):
    """Access log lines without query strings' phone/card numbers."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        target = mask_text(request.rel_url.path_qs)
        self.logger.info(
            '%s "%s %s" %s %.1fms',
            request.remote,
            request.method,
            target,
            response.status,
            time * 1000,
        )


@functools.lru_cache(maxsize=1)
def _openapi_text() -> str:
    return OPENAPI_PATH.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _parsed_openapi() -> str:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return json.dumps(yaml.load(_openapi_text(), Loader=loader), ensure_ascii=False)


def load_openapi() -> dict[str, Any]:
    """The OpenAPI document (parsed once per process, a fresh copy per call)."""
    return json.loads(_parsed_openapi())


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the engine, session factory and worker pool for the app's lifetime."""
    settings = app[SETTINGS]
    engine = make_engine(settings.bank_db_url)
    added = ensure_schema(engine)
    if added:
        log.info("bank schema upgraded: added %s", ", ".join(added))
    app[ENGINE] = engine
    app[SESSIONS] = make_sessionmaker(engine)
    app[EXECUTOR] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bank-db")
    log.info("bank database ready (%s)", make_url(settings.bank_db_url).get_backend_name())
    yield
    app[EXECUTOR].shutdown(wait=True)
    engine.dispose()


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """Build the bank app; the database is opened on startup and closed on cleanup."""
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[CLOCK] = clock or system_now
    app[OPENAPI] = load_openapi()
    app.cleanup_ctx.append(database_ctx)
    setup_routes(app)
    return app
