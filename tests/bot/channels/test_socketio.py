"""Web chat channel (R25/R26): a real socket.io round trip through the fixed channel.

The server is ``echo_server.py`` (the channel registered the way ``rasa run``
does, an echo bot instead of a model) in a subprocess; the client is
python-socketio over polling (R24: its websocket transport fails with
aiohttp 3.9 in this venv).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
import socketio

from bot.channels.socketio import (
    MAX_MESSAGE_CHARS,
    WebChatInput,
    WebChatOutput,
    clean_metadata,
    valid_session_id,
)

TIMEOUT = 10.0


class ChatClient:
    """A web chat client speaking rasa-webchat's side of the protocol."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.confirms: asyncio.Queue[Any] = asyncio.Queue()
        self.replies: asyncio.Queue[Any] = asyncio.Queue()
        self.session_id: str | None = None
        self.sio.on("session_confirm", self.confirms.put)
        self.sio.on("bot_uttered", self.replies.put)

    async def open(self, session_id: str | None = None) -> str:
        """Connect and request a session; return the confirmed session id."""
        await self.sio.connect(self.url, transports=["polling"], socketio_path="/socket.io")
        await self.sio.emit("session_request", {"session_id": session_id})
        self.session_id = await asyncio.wait_for(self.confirms.get(), TIMEOUT)
        return self.session_id

    async def say(self, text: str, session_id: str | None = None, **extra: Any) -> None:
        """Send a user message the way rasa-webchat does."""
        payload = {
            "message": text,
            "customData": {"language": "zh"},
            "session_id": session_id or self.session_id,
        }
        payload.update(extra)
        await self.sio.emit("user_uttered", payload)

    async def reply(self, timeout: float = TIMEOUT) -> Any:
        """The next ``bot_uttered`` payload."""
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def close(self) -> None:
        """Disconnect without waiting for the pending long poll, as browsers do.

        ``AsyncClient.disconnect()`` waits for the server to answer the open
        polling request, which python-engineio's server only does after its
        ping timeout (about 30 s).
        """
        eio = self.sio.eio
        read_loop = eio.read_loop_task
        await eio.disconnect(abort=True)  # sends CLOSE, then closes the HTTP session
        if read_loop is not None:
            await asyncio.wait([read_loop], timeout=TIMEOUT)


def received(url: str) -> list[dict[str, Any]]:
    """What the echo bot has been handed so far."""
    with urllib.request.urlopen(f"{url}/received", timeout=5) as reply:
        return json.loads(reply.read())


async def wait_received(url: str, count: int) -> list[dict[str, Any]]:
    """Poll ``/received`` until it holds at least ``count`` messages."""
    for _ in range(100):
        messages = await asyncio.to_thread(received, url)
        if len(messages) >= count:
            return messages
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} messages at the bot, got {len(messages)}")


async def test_reply_reaches_client_with_session_persistence(echo_url: str) -> None:
    client = ChatClient(echo_url)
    try:
        session_id = await client.open()
        assert valid_session_id(session_id)
        await client.say("你好")
        assert await client.reply() == {"text": "回声：你好"}
    finally:
        await client.close()


async def test_bot_sees_session_sender_metadata_and_channel_name(echo_url: str) -> None:
    client = ChatClient(echo_url)
    try:
        session_id = await client.open()
        before = len(await asyncio.to_thread(received, echo_url))
        await client.say("我要转账")
        await client.reply()
        message = (await wait_received(echo_url, before + 1))[-1]
    finally:
        await client.close()
    assert message == {
        "sender_id": session_id,
        "text": "我要转账",
        "metadata": {"language": "zh"},
        "input_channel": "socketio",
    }


async def test_buttons_arrive_as_quick_replies(echo_url: str) -> None:
    client = ChatClient(echo_url)
    try:
        await client.open()
        await client.say("/greet")
        reply = await client.reply()
    finally:
        await client.close()
    assert reply["text"].startswith("您好")
    assert reply["quick_replies"] == [
        {"content_type": "text", "title": "查余额", "payload": "/check_balance"},
        {"content_type": "text", "title": "找网点", "payload": "/find_branch"},
    ]


async def test_session_resumes_after_reconnect_and_reaches_every_tab(echo_url: str) -> None:
    first = ChatClient(echo_url)
    session_id = await first.open()
    second = ChatClient(echo_url)
    try:
        assert await second.open(session_id) == session_id
        await second.say("第二个标签页")
        assert await second.reply() == {"text": "回声：第二个标签页"}
        assert await first.reply() == {"text": "回声：第二个标签页"}
    finally:
        await first.close()
    try:
        await second.say("关掉一个以后")
        assert await second.reply() == {"text": "回声：关掉一个以后"}
    finally:
        await second.close()


async def test_session_id_not_issued_by_the_channel_is_replaced(echo_url: str) -> None:
    client = ChatClient(echo_url)
    try:
        openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
        session_id = await client.open(openid)
    finally:
        await client.close()
    assert session_id != openid
    assert valid_session_id(session_id)


async def test_message_with_foreign_session_id_is_ignored(echo_url: str) -> None:
    client = ChatClient(echo_url)
    try:
        await client.open()
        before = len(await asyncio.to_thread(received, echo_url))
        await client.say("冒充别人", session_id="o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
        await client.say("", session_id=client.session_id)
        await client.say("正常消息")
        assert await client.reply() == {"text": "回声：正常消息"}
        messages = await wait_received(echo_url, before + 1)
    finally:
        await client.close()
    assert [m["text"] for m in messages[before:]] == ["正常消息"]


async def test_long_messages_are_capped(echo_url: str) -> None:
    client = ChatClient(echo_url)
    try:
        await client.open()
        await client.say("长" * (MAX_MESSAGE_CHARS + 500))
        reply = await client.reply()
    finally:
        await client.close()
    assert reply == {"text": "回声：" + "长" * MAX_MESSAGE_CHARS}


async def test_upstream_channel_never_delivers_replies(upstream_echo_url: str) -> None:
    """Documents R26: if this starts failing, Rasa fixed it and the subclass can go."""
    client = ChatClient(upstream_echo_url)
    try:
        await client.open()
        await client.say("你好")
        await wait_received(upstream_echo_url, 1)
        with pytest.raises(asyncio.TimeoutError):
            await client.reply(timeout=2.0)
    finally:
        await client.close()


def test_channel_loads_from_credentials_and_reports_socketio() -> None:
    channel = WebChatInput.from_credentials(
        {"session_persistence": True, "metadata_key": "customData"}
    )
    assert isinstance(channel, WebChatInput)
    assert channel.name() == "socketio"
    assert channel.url_prefix() == "socketio"
    assert channel.session_persistence is True
    assert channel.metadata_key == "customData"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"language": "zh"}, {"language": "zh"}),
        ('{"language": "zh", "n": 1}', {"language": "zh", "n": 1}),
        ("not json", {}),
        (None, {}),
        (["language"], {}),
        ({"nested": {"a": 1}, "list": [1], "ok": True}, {"ok": True}),
        ({"long": "x" * 1000, "k" * 100: "v"}, {}),
    ],
)
def test_clean_metadata(raw: Any, expected: dict[str, Any]) -> None:
    assert clean_metadata(raw) == expected


def test_clean_metadata_caps_key_count() -> None:
    assert len(clean_metadata({f"k{i}": i for i in range(100)})) == 20


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0123456789abcdef0123456789abcdef", True),
        ("0123456789ABCDEF0123456789ABCDEF", False),
        ("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", False),
        ("", False),
        (None, False),
        (123, False),
    ],
)
def test_valid_session_id(value: Any, ok: bool) -> None:
    assert valid_session_id(value) is ok


class RecordingServer:
    """Just enough of ``AsyncServer`` to record emits."""

    def __init__(self) -> None:
        self.emitted: list[tuple[Any, ...]] = []

    async def emit(self, event: str, data: Any = None, **kwargs: Any) -> None:
        self.emitted.append((event, data, kwargs))


@pytest.mark.parametrize(
    ("custom", "payload"),
    [
        ({"type": "card", "title": "x"}, {"type": "card", "title": "x"}),
        ({"data": {"type": "card"}}, {"type": "card"}),
        ({"data": {"type": "card"}, "room": "someone-else"}, {"type": "card"}),
    ],
)
async def test_custom_json_is_emitted_as_payload(custom: dict[str, Any], payload: Any) -> None:
    server = RecordingServer()
    output = WebChatOutput(server, "bot_uttered")  # type: ignore[arg-type]
    await output.send_custom_json("abc", custom)
    assert server.emitted == [("bot_uttered", payload, {"room": "abc", "namespace": None})]
