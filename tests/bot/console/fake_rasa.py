"""A stand-in for the parts of Rasa's HTTP API the console uses (not a test module).

``FakeRasa`` answers tracker, tracker/events (append) and trigger_intent with the
``?token=`` check, keeps each conversation's events and paused flag like Rasa, and
records every call. ``fake_rasa_in_thread`` serves it on a free loopback port from a
background thread (for the browser tests, whose console runs as its own process).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

TOKEN = "rasa-test-token"


class FakeRasa:
    """Records calls; keeps per-conversation events and the paused flag like Rasa."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.fail = False

    def paused(self, sender: str) -> bool:
        state = False
        for event in self.events.get(sender, []):
            if event.get("event") in ("pause", "resume"):
                state = event["event"] == "pause"
        return state

    def sent(self, sender: str) -> list[dict[str, Any]]:
        """Bot events appended with side effects (delivered to the customer)."""
        return [
            event
            for call in self.calls
            if call["sender"] == sender and call["kind"] == "events" and call["side_effects"]
            for event in call["events"]
            if event.get("event") == "bot"
        ]

    def kinds(self, sender: str) -> list[str]:
        """``pause``, ``resume``, ``bot``, ``trigger:<intent>`` in call order."""
        out = []
        for call in self.calls:
            if call["sender"] != sender:
                continue
            if call["kind"] == "trigger":
                out.append(f"trigger:{call['intent']}")
            elif call["kind"] == "events":
                out.extend(event["event"] for event in call["events"])
        return out

    def _check(self, request: web.Request) -> None:
        if request.query.get("token") != TOKEN:
            raise web.HTTPUnauthorized(text='{"message": "token"}')
        if self.fail:
            raise web.HTTPInternalServerError(text='{"message": "down"}')

    async def tracker(self, request: web.Request) -> web.Response:
        self._check(request)
        sender = request.match_info["sender"]
        return web.json_response(
            {"sender_id": sender, "paused": self.paused(sender), "events": self.events.get(sender, [])}
        )

    async def append(self, request: web.Request) -> web.Response:
        self._check(request)
        sender = request.match_info["sender"]
        events = await request.json()
        self.calls.append(
            {
                "kind": "events",
                "sender": sender,
                "events": events,
                "side_effects": request.query.get("execute_side_effects") == "true",
                "output_channel": request.query.get("output_channel"),
            }
        )
        self.events.setdefault(sender, []).extend(events)
        return web.json_response({"sender_id": sender, "paused": self.paused(sender)})

    async def trigger(self, request: web.Request) -> web.Response:
        self._check(request)
        sender = request.match_info["sender"]
        body = await request.json()
        self.calls.append(
            {
                "kind": "trigger",
                "sender": sender,
                "intent": body["name"],
                "paused": self.paused(sender),
                "output_channel": request.query.get("output_channel"),
            }
        )
        return web.json_response({"tracker": {}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/conversations/{sender}/tracker", self.tracker)
        app.router.add_post("/conversations/{sender}/tracker/events", self.append)
        app.router.add_post("/conversations/{sender}/trigger_intent", self.trigger)
        return app


@contextmanager
def fake_rasa_in_thread(fake: FakeRasa | None = None) -> Iterator[tuple[FakeRasa, str]]:
    """``(fake, base_url)`` served from a background thread until the block ends."""
    fake = fake or FakeRasa()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(fake.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="fake-rasa", daemon=True)
    thread.start()
    assert started.wait(10), "the fake Rasa server did not start"
    try:
        yield fake, f"http://127.0.0.1:{holder['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
