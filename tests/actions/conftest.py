"""Actions against the real sandbox bank app on a loopback port (no mocks)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.domain import Domain
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import set_services
from bot.bank.app import create_app
from bot.bank.clock import CST, FakeClock
from bot.bank.testing import TEST_START, copy_database, make_settings, seed_file
from bot.services.factory import ServiceFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def domain_dict() -> dict[str, Any]:
    return Domain.load(str(ROOT / "domain")).as_dict()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Seeded "now", so the actions' wall-clock verification window lines up.
    path = tmp_path_factory.mktemp("actions-bank") / "bank.db"
    seed_file(path, datetime.now(CST))
    return path


@pytest.fixture
async def bank(aiohttp_server, tmp_path: Path, seeded_template: Path) -> AsyncIterator[ServiceFactory]:
    """A seeded bank on a free port, with the actions' service factory pointed at it."""
    settings = make_settings(copy_database(seeded_template, tmp_path / "bank.db"))
    server = await aiohttp_server(create_app(settings))
    factory = ServiceFactory(
        make_settings(tmp_path / "bank.db", bank_url=str(server.make_url("")).rstrip("/"))
    )
    set_services(factory)
    yield factory
    set_services(None)
    await factory.aclose()


async def _bank_at(aiohttp_server, path: Path, now: datetime) -> AsyncIterator[ServiceFactory]:
    seed_file(path, TEST_START)
    server = await aiohttp_server(create_app(make_settings(path), clock=FakeClock(now)))
    factory = ServiceFactory(
        make_settings(path, bank_url=str(server.make_url("")).rstrip("/"))
    )
    set_services(factory)
    yield factory
    set_services(None)
    await factory.aclose()


@pytest.fixture
async def bank_at_ten(aiohttp_server, tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Like ``bank``, with the bank's clock at a Wednesday 10:00 (branches open)."""
    async for factory in _bank_at(aiohttp_server, tmp_path / "bank10.db", TEST_START):
        yield factory


@pytest.fixture
async def bank_at_night(aiohttp_server, tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Like ``bank``, with the bank's clock at 02:00 the next night (staff off duty)."""
    night = TEST_START.replace(day=19, hour=2)
    async for factory in _bank_at(aiohttp_server, tmp_path / "bank2.db", night):
        yield factory


def make_tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "",
    intent: str = "inform",
    entities: list[dict[str, Any]] | None = None,
    channel: str = "rest",
    sender: str = "tester",
    active_loop: str | None = None,
    requested_slot: str | None = None,
    validated: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    paused: bool = False,
) -> Tracker:
    """A tracker whose last user message came through ``channel``.

    ``validated`` are slots set in this turn (what a form validation action sees).
    """
    all_slots = dict(slots or {})
    all_slots.setdefault("requested_slot", requested_slot)
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    events: list[dict[str, Any]] = [
        {"event": "action", "name": "action_listen", "timestamp": time.time()},
        {"event": "user", "text": text, "parse_data": message, "input_channel": channel,
         "timestamp": time.time()},
    ]
    if validated:
        all_slots.update(validated)
        events += [{"event": "slot", "name": k, "value": v} for k, v in validated.items()]
    return Tracker(
        sender_id=sender,
        slots=all_slots,
        latest_message=message,
        events=events,
        paused=paused,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") for m in dispatcher.messages]


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
