"""Fixtures: the real bank app on a local port and clients pointed at it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.bank.app import create_app
from bot.bank.clock import FakeClock
from bot.bank.testing import TEST_START, copy_database, make_settings, seed_file
from bot.services.factory import ServiceFactory


@pytest.fixture(scope="session")
def bank_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bank-template") / "bank.db"
    seed_file(path, TEST_START)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TEST_START)


@pytest.fixture
async def bank_server(aiohttp_server, tmp_path, bank_template, clock):
    db_path = copy_database(bank_template, tmp_path / "bank.db")
    return await aiohttp_server(create_app(make_settings(db_path), clock=clock))


@pytest.fixture
def settings(bank_server, tmp_path):
    url = str(bank_server.make_url("")).rstrip("/")
    return make_settings(tmp_path / "bank.db", bank_url=url, service_timeout=2.0)


@pytest.fixture
async def services(settings):
    factory = ServiceFactory(settings)
    yield factory
    await factory.aclose()


@pytest.fixture
def accounts(services):
    return services.accounts


@pytest.fixture
def bind(accounts, clock):
    """``await bind(phone, user=...)`` -> Session, reading the code from the SMS outbox."""

    async def go(phone: str = "13800138000", *, channel: str = "wechat", user: str = "o-zhang"):
        await accounts.request_otp(channel, user, phone)
        code = (await accounts.sms_outbox(phone))[0]["code"]
        return await accounts.verify_otp(channel, user, code)

    return go


@pytest.fixture
def replace_settings():
    return dataclasses.replace
