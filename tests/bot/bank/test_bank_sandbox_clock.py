"""The sandbox clock of a running bank: set, advanced, and followed by the queues."""

from __future__ import annotations

from datetime import datetime

from bot.bank.app import create_app
from bot.bank.clock import CST, SandboxClock


async def test_clock_can_be_set_and_advanced(aiohttp_client, settings) -> None:
    clock = SandboxClock(datetime(2026, 11, 18, 10, 0, tzinfo=CST))
    client = await aiohttp_client(create_app(settings, clock=clock))
    resp = await client.post("/sandbox/clock", json={"set": "2026-11-18T10:00:00+08:00"})
    assert resp.status == 200
    before = (await client.get("/branches/SH001/queues")).status
    assert before == 200
    queues = {q["service_type"]: q for q in await (await client.get("/branches/SH001/queues")).json()}
    resp = await client.post("/sandbox/clock", json={"advance_minutes": 10})
    now = datetime.fromisoformat((await resp.json())["now"])
    assert now >= datetime(2026, 11, 18, 10, 10, tzinfo=CST)
    later = {q["service_type"]: q for q in await (await client.get("/branches/SH001/queues")).json()}
    assert later["个人业务"]["next_number"] >= queues["个人业务"]["next_number"]


async def test_bad_clock_requests_change_nothing(aiohttp_client, settings) -> None:
    clock = SandboxClock(datetime(2026, 11, 18, 10, 0, tzinfo=CST))
    client = await aiohttp_client(create_app(settings, clock=clock))
    for body in ({"set": "yesterday"}, {"advance_minutes": -5}, {"advance_minutes": "ten"}, {"x": 1}):
        resp = await client.post("/sandbox/clock", json=body)
        assert resp.status == 400, body
    now = datetime.fromisoformat((await (await client.get("/sandbox/clock")).json())["now"])
    assert abs((now - datetime(2026, 11, 18, 10, 0, tzinfo=CST)).total_seconds()) < 60


async def test_the_system_clock_cannot_be_moved(aiohttp_client, settings) -> None:
    client = await aiohttp_client(create_app(settings))
    resp = await client.post("/sandbox/clock", json={"advance_minutes": 5})
    assert resp.status == 400
