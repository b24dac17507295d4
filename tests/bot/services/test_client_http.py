"""The base client's error mapping, against small real HTTP servers."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from bot.services.errors import (
    BadRequest,
    CardNotFound,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    VerificationRequired,
)
from bot.services.http import ServiceClient, error_from_response


def error(code: str, status: int, **details) -> web.Response:
    body = {"error": {"code": code, "message": f"{code} happened", "details": details}}
    return web.json_response(body, status=status)


async def odd_server(aiohttp_server):
    async def handler(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind == "slow":
            await asyncio.sleep(5)
            return web.json_response({})
        if kind == "crash":
            return web.Response(status=500, text="<html>Internal Server Error</html>")
        if kind == "bad-gateway":
            return error("upstream_down", 502)
        if kind == "unknown-400":
            return error("weird_rule", 422, rule="x")
        if kind == "unknown-404":
            return error("no_such_thing", 404)
        if kind == "unknown-401":
            return web.Response(status=401, text="nope")
        if kind == "teapot":
            return error("teapot", 418)
        if kind == "known":
            return error("card_not_found", 404, last4="0000")
        if kind == "not-json":
            return web.Response(text="hello")
        if kind == "empty":
            return web.Response(status=204)
        return web.json_response(
            {"echo": dict(request.query), "auth": request.headers.get("Authorization")}
        )

    app = web.Application()
    app.router.add_route("*", "/{kind}", handler)
    return await aiohttp_server(app)


@pytest.fixture
async def odd(aiohttp_server):
    server = await odd_server(aiohttp_server)
    client = ServiceClient(str(server.make_url("")), timeout=1.0)
    yield client
    await client.close()


async def test_success_params_and_token(odd):
    body = await odd.request("GET", "/ok", params={"a": 1, "b": None, "c": True}, token="tok")
    assert body == {"echo": {"a": "1", "c": "true"}, "auth": "Bearer tok"}
    assert await odd.request("GET", "/empty") is None


@pytest.mark.parametrize(
    ("kind", "exc", "status"),
    [
        ("crash", ServiceUnavailable, 500),
        ("bad-gateway", ServiceUnavailable, 502),
        ("unknown-400", BadRequest, 422),
        ("unknown-404", NotFound, 404),
        ("unknown-401", VerificationRequired, 401),
        ("teapot", ServiceError, 418),
        ("known", CardNotFound, 404),
        ("not-json", ServiceUnavailable, 200),
    ],
)
async def test_errors_map_to_classes(odd, kind, exc, status):
    with pytest.raises(exc) as excinfo:
        await odd.request("GET", f"/{kind}")
    assert type(excinfo.value) is exc
    assert excinfo.value.status == status


async def test_known_code_keeps_message_and_details(odd):
    with pytest.raises(CardNotFound) as excinfo:
        await odd.request("GET", "/known")
    assert excinfo.value.message == "card_not_found happened"
    assert excinfo.value.details == {"last4": "0000"}


async def test_timeout_is_service_unavailable(odd):
    with pytest.raises(ServiceUnavailable, match="timed out"):
        await odd.request("GET", "/slow")


async def test_connection_refused_is_service_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ServiceClient(f"http://127.0.0.1:{port}", timeout=1) as client:
        with pytest.raises(ServiceUnavailable):
            await client.request("GET", "/health")
    assert client.closed


def test_error_from_response_without_a_body():
    assert type(error_from_response(503, None)) is ServiceUnavailable
    assert type(error_from_response(400, {"error": "flat"})) is BadRequest
    err = error_from_response(409, {"error": {"code": "idempotency_conflict", "message": "m"}})
    assert err.code == "idempotency_conflict" and err.details == {}


def test_base_url_is_required():
    with pytest.raises(ValueError):
        ServiceClient("")
