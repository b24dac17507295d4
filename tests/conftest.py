"""Shared fixtures: free ports, and the whole stack started on loopback."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.run import Stack
from bot.settings import PROJECT_ROOT, Settings
from tests.bot.channels.wechat.fake_api import FakeWeChatAPI
from tests.bot.channels.wechat.simulator import (
    TEST_AES_KEY,
    TEST_APPID,
    TEST_SECRET,
    TEST_TOKEN,
)

# BANKBOT_TEST_MODEL points the integration tests at another trained model.
MODEL = Path(os.environ.get("BANKBOT_TEST_MODEL") or PROJECT_ROOT / "models" / "bankbot.tar.gz")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` different free ports (each socket stays bound until all are picked, so
    the kernel cannot hand the same port out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class RunningStack:
    """What tests need to reach the running processes."""

    def __init__(self, settings: Settings, stack: Stack) -> None:
        self.settings = settings
        self.stack = stack
        self.rasa_url = settings.rasa_url
        self.bank_url = settings.bank_url
        self.web_url = f"http://{settings.host}:{settings.web_port}"
        self.rest_url = f"{settings.rasa_url}/webhooks/rest/webhook"
        self.wechat_url = f"{settings.rasa_url}/webhooks/wechat/webhook"
        # Rasa's HTTP API (/conversations/..., /domain) wants ?token= on every call.
        self.rasa_token = settings.rasa_token
        self.rasa_params = {"token": settings.rasa_token}

    async def model_domain(self) -> dict[str, Any]:
        """The running model's domain, from Rasa's HTTP API."""
        async with aiohttp.ClientSession() as http, http.get(
            f"{self.rasa_url}/domain", headers={"Accept": "application/json"}, params=self.rasa_params
        ) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())


def wechat_env(api_base: str) -> dict[str, str]:
    """The WeChat channel's settings for the stack: test credentials, the fake API."""
    return {
        "WECHAT_TOKEN": TEST_TOKEN,
        "WECHAT_AES_KEY": TEST_AES_KEY,
        "WECHAT_APPID": TEST_APPID,
        "WECHAT_SECRET": TEST_SECRET,
        "WECHAT_API_BASE": api_base,
    }


@pytest.fixture(scope="session")
def fake_wechat_api() -> Iterator[FakeWeChatAPI]:
    """The fake WeChat API (aiohttp on 127.0.0.1, in a background thread) the
    stack's WeChat channel sends customer-service messages to."""
    fake = FakeWeChatAPI()
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


@pytest.fixture(scope="session")
def stack_settings(
    tmp_path_factory: pytest.TempPathFactory, fake_wechat_api: FakeWeChatAPI
) -> Settings:
    # The fake WeChat API binds its port first, so the stack's cannot be the same one.
    data_dir: Path = tmp_path_factory.mktemp("stack")
    names = ("rasa", "action", "bank", "web")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    base = Settings.from_env(
        {
            "BANKBOT_DATA_DIR": str(data_dir),
            "RASA_PORT": str(ports["rasa"]),
            "ACTION_PORT": str(ports["action"]),
            "BANK_PORT": str(ports["bank"]),
            "WEB_PORT": str(ports["web"]),
            # A Wednesday 10:00 in Shanghai: branches open, queues as seeded.
            "SANDBOX_CLOCK_START": "2026-11-18T10:00:00+08:00",
            # Several tests bind the same demo customers one after another.
            "OTP_RESEND_SECONDS": "1",
            # Rasa's HTTP API is authenticated as in `make run`; the console sends it.
            "RASA_TOKEN": secrets.token_urlsafe(24),
        }
    )
    return replace(base, profile="sandbox")


@pytest.fixture(scope="session")
def running_stack(
    stack_settings: Settings, fake_wechat_api: FakeWeChatAPI
) -> Iterator[RunningStack]:
    """Bank, action server, Rasa server (trained model) and web app, for real."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: `make test` trains it before running pytest")
    stack = Stack(stack_settings, MODEL, extra_env=wechat_env(fake_wechat_api.url))
    try:
        stack.start()
    except RuntimeError:
        stack.stop()
        raise
    yield RunningStack(stack_settings, stack)
    stack.stop()
