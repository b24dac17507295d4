"""Which browser origins may open the web chat socket (polling and websocket).

The echo server (``echo_server.py``) runs the channel the way ``rasa run --cors '*'``
does, with ``WEB_PUBLIC_URL=https://bank.example.cn`` and
``WEBCHAT_ALLOWED_ORIGINS=https://shop.example.cn, http://localhost:8000``.
"""

from __future__ import annotations

import aiohttp
import pytest

from bot.channels.socketio import WebChatInput, origin_checker
from bot.settings import Settings

POLLING = "/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"
ALLOWED = ["https://bank.example.cn", "https://shop.example.cn", "http://localhost:8000"]
REFUSED = ["https://evil.example.com", "http://bank.example.cn", "http://localhost:8001", "null"]


async def polling_handshake(url: str, origin: str | None) -> aiohttp.ClientResponse:
    headers = {"Origin": origin} if origin else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + POLLING, headers=headers) as response,
    ):
        await response.read()
        return response


@pytest.mark.parametrize("origin", ALLOWED)
async def test_allowed_origin_polls_with_one_cors_header(
    restricted_echo_url: str, origin: str
) -> None:
    response = await polling_handshake(restricted_echo_url, origin)
    assert response.status == 200
    # Engine.IO answers CORS itself; Sanic-CORS (rasa run --cors) must not add a
    # second Access-Control-Allow-Origin, which browsers reject.
    assert response.headers.getall("Access-Control-Allow-Origin") == [origin]


@pytest.mark.parametrize("origin", REFUSED)
async def test_other_origins_are_refused_for_polling(restricted_echo_url: str, origin: str) -> None:
    response = await polling_handshake(restricted_echo_url, origin)
    assert response.status == 400
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_clients_without_origin_are_not_browsers_and_pass(restricted_echo_url: str) -> None:
    response = await polling_handshake(restricted_echo_url, None)
    assert response.status == 200


async def websocket_opens(url: str, origin: str) -> bool:
    """True when the websocket handshake succeeds and Engine.IO sends its open packet."""
    ws_url = url.replace("http://", "ws://") + WEBSOCKET
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url, headers={"Origin": origin}, timeout=10) as ws:
                message = await ws.receive(timeout=10)
                return message.type == aiohttp.WSMsgType.TEXT and message.data.startswith("0")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 400
            return False


async def test_websocket_transport_checks_the_origin_too(restricted_echo_url: str) -> None:
    assert await websocket_opens(restricted_echo_url, "https://shop.example.cn")
    assert await websocket_opens(restricted_echo_url, "https://bank.example.cn")
    assert not await websocket_opens(restricted_echo_url, "https://evil.example.com")


async def test_sandbox_default_accepts_any_origin(echo_url: str) -> None:
    response = await polling_handshake(echo_url, "https://anything.example.org")
    assert response.status == 200
    assert response.headers.getall("Access-Control-Allow-Origin") == [
        "https://anything.example.org"
    ]
    assert await websocket_opens(echo_url, "http://127.0.0.1:9")


def test_socket_origins_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKBOT_PROFILE", "production")
    monkeypatch.setenv("BANKBOT_HOST", "127.0.0.1")
    monkeypatch.setenv("WEB_PORT", "8080")
    monkeypatch.delenv("WEB_PUBLIC_URL", raising=False)
    monkeypatch.delenv("WEBCHAT_ALLOWED_ORIGINS", raising=False)
    channel = WebChatInput.from_credentials({"session_persistence": True})
    assert isinstance(channel, WebChatInput)
    # Outside the sandbox only the web app itself, under both loopback names.
    assert channel.socket_origins() == ("http://127.0.0.1:8080", "http://localhost:8080")
    monkeypatch.setenv("WEBCHAT_ALLOWED_ORIGINS", "https://Shop.Example.cn:443/")
    assert channel.socket_origins() == (
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "https://shop.example.cn",
    )
    monkeypatch.setenv("BANKBOT_PROFILE", "sandbox")
    monkeypatch.delenv("WEBCHAT_ALLOWED_ORIGINS")
    assert channel.socket_origins() == ("*",)


def test_origin_checker() -> None:
    assert origin_checker(("*",)) == "*"
    check = origin_checker(("https://a.example",))
    assert check("https://a.example") is True
    assert check("https://a.example", {"HTTP_HOST": "x"}) is True
    assert check("https://a.example.evil.com") is False
    assert check(None) is False


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("https://shop.example.cn/page", "no path"),
        ("shop.example.cn", "not an origin"),
        ("ftp://shop.example.cn", "not an origin"),
    ],
)
def test_bad_origins_stop_the_settings(raw: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Settings.from_env({"WEBCHAT_ALLOWED_ORIGINS": raw})
