"""Base of the typed service clients: one aiohttp session, JSON in and out, typed errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from .errors import (
    ERRORS_BY_CODE,
    BadRequest,
    Forbidden,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    VerificationRequired,
)

log = logging.getLogger(__name__)


def segment(value: str) -> str:
    """Percent-encode one path segment (a channel user id may contain ``@`` or ``=``)."""
    return quote(str(value), safe="")


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def error_from_response(status: int, payload: Any) -> ServiceError:
    """Map ``{"error": {"code", "message", "details"}}`` (or just a status) to an exception."""
    code = message = None
    details: dict[str, Any] = {}
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        error = payload["error"]
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
        if isinstance(error.get("details"), Mapping):
            details = dict(error["details"])
    cls = ERRORS_BY_CODE.get(code) if code else None
    if cls is None:
        if status >= 500:
            cls = ServiceUnavailable
        elif status in (400, 422):
            cls = BadRequest
        elif status == 404:
            cls = NotFound
        elif status == 401:
            cls = VerificationRequired
        elif status == 403:
            cls = Forbidden
        else:
            cls = ServiceError
    return cls(message or f"HTTP {status}", status=status, details=details)


class ServiceClient:
    """An async JSON client for one service; use ``async with`` or call :meth:`close`."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                json_serialize=lambda data: json.dumps(data, default=_encode, ensure_ascii=False),
                headers={"Accept": "application/json"},
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        """Send one request (``path`` already percent-encoded) and return the decoded JSON.

        Raises the :mod:`bot.services.errors` class of the error code, or
        :class:`ServiceUnavailable` on network errors, timeouts, 5xx and non-JSON answers.
        """
        url = URL(self.base_url + path, encoded=True)
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        headers = {"Authorization": f"Bearer {token}"} if token else None
        session = self._client_session()
        try:
            async with session.request(
                method, url, json=json_body, params=query or None, headers=headers
            ) as response:
                text = await response.text()
                status = response.status
        except asyncio.TimeoutError as exc:
            raise ServiceUnavailable(f"{method} {path}: timed out") from exc
        except aiohttp.ClientError as exc:
            raise ServiceUnavailable(f"{method} {path}: {exc.__class__.__name__}") from exc
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
            if status < 400:
                raise ServiceUnavailable(
                    f"{method} {path}: the answer is not JSON", status=status
                ) from None
        if status >= 400:
            error = error_from_response(status, payload)
            log.debug("%s %s -> %s %s", method, path, status, error.code)
            raise error
        return payload

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def to_decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def to_optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def to_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def to_optional_datetime(value: Any) -> datetime | None:
    return None if value is None else to_datetime(value)


def to_date(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def to_optional_date(value: Any) -> date | None:
    return None if value is None else to_date(value)
