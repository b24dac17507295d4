"""Fixtures: a seeded SQLite copy per test, a fake clock, and the real bank app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.bank.app import create_app
from bot.bank.clock import FakeClock
from bot.bank.testing import TEST_START, ZHANG_PHONE, copy_database, make_settings, seed_file


@pytest.fixture(scope="session")
def bank_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bank-template") / "bank.db"
    seed_file(path, TEST_START)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TEST_START)


@pytest.fixture
def db_path(tmp_path: Path, bank_template: Path) -> Path:
    return copy_database(bank_template, tmp_path / "bank.db")


@pytest.fixture
def settings(db_path: Path):
    return make_settings(db_path)


@pytest.fixture
async def client(aiohttp_client, settings, clock) -> TestClient:
    return await aiohttp_client(create_app(settings, clock=clock))


class Bank:
    """Small conveniences over the test client."""

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock

    async def latest_code(self, phone: str) -> str:
        resp = await self.client.get("/sandbox/sms-outbox", params={"phone": phone})
        assert resp.status == 200
        messages = await resp.json()
        assert messages, "no SMS was sent"
        return messages[0]["code"]

    async def bind(
        self, phone: str = ZHANG_PHONE, *, channel: str = "wechat", user: str = "o-zhang"
    ) -> dict[str, Any]:
        """Request a code for ``phone``, read it from the outbox and verify it."""
        resp = await self.client.post(
            "/auth/otp", json={"channel": channel, "channel_user_id": user, "phone": phone}
        )
        assert resp.status == 202, await resp.text()
        code = await self.latest_code(phone)
        resp = await self.client.post(
            "/auth/otp/verify", json={"channel": channel, "channel_user_id": user, "code": code}
        )
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def token(self, phone: str = ZHANG_PHONE, **kwargs: Any) -> str:
        return (await self.bind(phone, **kwargs))["token"]

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, token: str, **params: Any) -> Any:
        resp = await self.client.get(path, headers=self.auth(token), params=params)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def balance(self, token: str, last4: str = "1234") -> str:
        accounts = await self.get("/accounts", token)
        return next(a["balance"] for a in accounts if a["last4"] == last4)


@pytest.fixture
def bank(client: TestClient, clock: FakeClock) -> Bank:
    return Bank(client, clock)


async def error_of(resp) -> dict[str, Any]:
    """The ``error`` object of a JSON error response."""
    assert resp.content_type == "application/json", await resp.text()
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


@pytest.fixture
def error():
    return error_of
