"""Fixtures for the WeChat channel: the fake API and the channel on a real Sanic server.

``wechat_channel`` runs :class:`bot.channels.wechat.WeChatInput` registered the
way ``rasa run`` registers channels (``rasa.core.channels.channel.register``
under ``/webhooks/``), in the test's own event loop, with a scripted agent in
place of Rasa's: tests control how long a turn takes, what the bot says and
whether the turn fails. The full stack with a trained model is exercised in
``tests/integration/test_wechat.py``.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.channels.wechat import WeChatConfig, WeChatInput
from bot.channels.wechat.dedupe import MemoryStore

from .fake_api import FakeWeChatAPI
from .simulator import TEST_AES_KEY, TEST_APPID, TEST_SECRET, TEST_TOKEN, WeChatServer

Sanic.test_mode = True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ScriptedAgent:
    """Stands in for ``rasa.core.agent.Agent``: records messages, answers by script."""

    delay: float = 0.0
    fail: int = 0  # how many of the next turns raise
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    received: list[UserMessage] = field(default_factory=list)
    running: int = 0  # turns in progress now
    most_running: int = 0  # the most turns that ever ran at once

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("scripted failure")
        script = self.replies.get(message.text or "")
        if script is None:
            script = [{"text": f"回声：{message.text}"}]
        for reply in script:
            await message.output_channel.send_response(message.sender_id, dict(reply))

    def texts(self) -> list[str]:
        return [m.text or "" for m in self.received]


@dataclass
class Harness:
    url: str
    channel: WeChatInput
    agent: ScriptedAgent
    wechat: WeChatServer
    http: aiohttp.ClientSession


def wechat_config(api_base: str = "http://127.0.0.1:9", **overrides: Any) -> WeChatConfig:
    values: dict[str, Any] = {
        "token": TEST_TOKEN,
        "aes_key": TEST_AES_KEY,
        "appid": TEST_APPID,
        "secret": TEST_SECRET,
        "api_base": api_base,
    }
    values.update(overrides)
    return WeChatConfig(**values)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeWeChatAPI]:
    fake = FakeWeChatAPI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_channel(
    fake_api: FakeWeChatAPI,
) -> AsyncIterator[Callable[..., Any]]:
    """``await start_channel(**config_overrides)`` -> :class:`Harness`."""
    servers: list[Any] = []
    sessions: list[aiohttp.ClientSession] = []
    channels: list[WeChatInput] = []

    async def start(clock: Callable[[], float] | None = None, **overrides: Any) -> Harness:
        config = wechat_config(fake_api.url, **overrides)
        kwargs: dict[str, Any] = {"store": MemoryStore()}
        if clock is not None:
            kwargs["clock"] = clock
        channel = WeChatInput(config, **kwargs)
        app = Sanic(f"wechat_test_{uuid.uuid4().hex[:8]}")
        app.config.MOTD = False
        agent = ScriptedAgent()
        app.ctx.agent = agent
        register([channel], app, route="/webhooks/")
        port = free_port()  # create_server turns port 0 into 8000
        server = await app.create_server(
            host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
        )
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        servers.append(server)
        channels.append(channel)
        url = f"http://127.0.0.1:{port}/webhooks/wechat/webhook"
        http = aiohttp.ClientSession()
        sessions.append(http)
        return Harness(url, channel, agent, WeChatServer(url), http)

    yield start
    for channel in channels:
        await channel.drain(5)
        if channel.api is not None:
            await channel.api.close()
    for http in sessions:
        await http.close()
    for server in servers:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


@pytest.fixture
async def harness(start_channel: Callable[..., Any]) -> Harness:
    return await start_channel()
