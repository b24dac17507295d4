"""The WeChat channel against the real processes: a simulated WeChat server talks to Rasa.

The session stack (``running_stack``) runs Rasa with the WeChat channel
configured by ``WECHAT_*`` variables: test credentials and ``WECHAT_API_BASE``
pointing at the fake WeChat API (``fake_wechat_api``, a thread in this
process). Every callback is signed and AES-encrypted (safe mode) like WeChat's;
answers arrive either as the encrypted passive reply or, when Rasa takes
longer than the channel's wait, as customer-service sends to the fake API. The
``WeChatUser`` helper accepts both, so these tests do not depend on timing.

The slow-action-server case starts a second, short-lived Rasa server whose
action endpoint is a proxy that delays every call by 2 s, with
``WECHAT_REPLY_WAIT_SECONDS=0.3``: the acknowledgement must come back within
1 s and the answer must arrive as exactly one customer-service send.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.formatting import format_cny
from bot.run import Process, Stack
from bot.services.accounts import AccountsClient
from tests.bot.channels.wechat.fake_api import FakeWeChatAPI
from tests.bot.channels.wechat.simulator import Delivery, WeChatServer
from tests.bot.channels.wechat.test_security import BILLION_LAUGHS
from tests.conftest import MODEL, RunningStack, free_port, wechat_env

pytestmark = pytest.mark.integration

ASYNC_TIMEOUT = 30.0
XUJIAHUI = (31.1955, 121.4365)


class WeChatUser:
    """One WeChat user (an openid) talking to the Rasa server through WeChat."""

    def __init__(
        self, server: WeChatServer, http: aiohttp.ClientSession, fake: FakeWeChatAPI
    ) -> None:
        self.server = server
        self.http = http
        self.fake = fake
        self.openid = f"oBank{uuid.uuid4().hex[:23]}"  # openids are 28 characters
        self.replies: list[str] = []

    async def deliver(self, xml: str) -> Delivery:
        delivery = await self.server.send(self.http, xml, "safe")
        assert delivery.status == 200, delivery.text
        return delivery

    async def answer(self, delivery: Delivery, sent_before: int) -> str:
        """The passive reply, or the customer-service sends when it was ``success``."""
        passive = self.server.reply_text(delivery)
        if passive is None:
            deadline = time.monotonic() + ASYNC_TIMEOUT
            while len(self.fake.sends_to(self.openid)) <= sent_before:
                assert time.monotonic() < deadline, "no customer-service answer arrived"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # a turn may need more than one send
        else:
            await asyncio.sleep(0.05)  # the overflow of a long reply, if any
        texts = self.fake.texts_to(self.openid)[sent_before:]
        reply = "\n".join([passive or "", *texts]).strip()
        self.replies.append(reply)
        return reply

    async def send(self, xml: str) -> str:
        before = len(self.fake.sends_to(self.openid))
        return await self.answer(await self.deliver(xml), before)

    async def say(self, text: str) -> str:
        return await self.send(self.server.text(self.openid, text))


async def tracker(stack: RunningStack, sender: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params=stack.rasa_params
    ) as resp:
        assert resp.status == 200
        return await resp.json()


def user_events(tracker_json: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in tracker_json.get("events", []) if e.get("event") == "user"]


async def domain_intents(stack: RunningStack) -> list[str]:
    data = await stack.model_domain()
    return [next(iter(i)) if isinstance(i, dict) else i for i in data.get("intents", [])]


async def domain_actions(stack: RunningStack) -> list[str]:
    return list((await stack.model_domain()).get("actions") or [])


@pytest.fixture
async def wechat(running_stack: RunningStack, fake_wechat_api: FakeWeChatAPI) -> Any:
    server = WeChatServer(running_stack.wechat_url)
    async with aiohttp.ClientSession() as http:
        yield lambda: WeChatUser(server, http, fake_wechat_api)


async def test_url_verification_and_refusals(running_stack: RunningStack) -> None:
    server = WeChatServer(running_stack.wechat_url)
    async with aiohttp.ClientSession() as http:
        assert await server.verify_url(http, "echo-8899") == (200, "echo-8899")
        assert (await server.verify_url(http, "echo-8899", tamper=True))[0] == 403

        openid = f"oTamper{uuid.uuid4().hex[:20]}"
        xml = server.text(openid, "查余额")
        params, body = server.sign_request(xml, "safe")
        params["msg_signature"] = "0" * 40
        tampered = await server.send(http, xml, params=params, body=body)
        assert tampered.status == 403

        impostor = WeChatServer(running_stack.wechat_url, appid="wx0000000000000000")
        wrong_app = await impostor.send(http, impostor.text(openid, "查余额"), "safe")
        assert wrong_app.status == 403

        started = time.monotonic()
        bomb = await server.send(http, BILLION_LAUGHS, "plain")
        assert 400 <= bomb.status < 500
        assert time.monotonic() - started < 1.0
    assert user_events(await tracker(running_stack, openid)) == []


async def say_phone(user: WeChatUser, phone: str) -> str:
    """Give the phone number; wait out the resend gap if another test just sent a code."""
    for _ in range(3):
        reply = await user.say(phone)
        wait = re.search(r"请 (\d+) 秒后", reply)
        if not wait:
            return reply
        await asyncio.sleep(int(wait.group(1)) + 1)
    return reply


async def test_bind_and_balance_over_wechat(
    running_stack: RunningStack, wechat: Any, fake_wechat_api: FakeWeChatAPI
) -> None:
    phone = "13900139000"  # 李娜
    user = wechat()
    reply = await user.say("查余额")
    assert "验证" in reply and "手机号" in reply

    reply = await say_phone(user, phone)
    assert "139****9000" in reply and phone not in reply

    bank = AccountsClient(running_stack.bank_url)
    try:
        code = str((await bank.sms_outbox(phone))[0]["code"])
        reply = await user.say(code)
        assert "李娜" in reply and "尾号8888" in reply

        # The same binding as the web chat: the bank's, keyed by ("wechat", openid).
        binding = await bank.get_binding("wechat", user.openid)
        assert binding is not None
        assert (binding.customer_name, binding.masked_phone, binding.vip) == ("李娜", "139****9000", True)
        slots = (await tracker(running_stack, user.openid))["slots"]
        accounts = await bank.list_accounts(slots["auth_token"])
        balance = next(a.balance for a in accounts if a.last4 == "8888")
        assert format_cny(balance) in reply
    finally:
        await bank.close()

    events = user_events(await tracker(running_stack, user.openid))
    assert {e["input_channel"] for e in events} == {"wechat"}
    assert all(user.openid not in r for r in user.replies)


async def test_buttons_become_numbered_options_and_a_number_answers(wechat: Any) -> None:
    user = wechat()
    reply = await user.send(user.server.event(user.openid, "subscribe"))
    assert "1. 查余额" in reply
    reply = await user.say("1")
    assert "验证" in reply and "手机号" in reply


async def test_menu_click_and_voice(wechat: Any) -> None:
    user = wechat()
    reply = await user.send(user.server.event(user.openid, "CLICK", EventKey="/check_balance"))
    assert "手机号" in reply
    other = wechat()
    reply = await other.send(other.server.voice(other.openid, "查余额。"))
    assert "手机号" in reply
    reply = await other.send(other.server.voice(other.openid, None))
    assert "打字" in reply


async def test_triple_delivery_is_one_turn_and_one_answer(
    running_stack: RunningStack, wechat: Any, fake_wechat_api: FakeWeChatAPI
) -> None:
    user = wechat()
    xml = user.server.text(user.openid, "你好")
    first = await user.deliver(xml)
    retries = [await user.deliver(xml) for _ in range(2)]  # re-signed, new nonces
    answer = await user.answer(first, 0)
    assert answer
    for retry in retries:  # the cached passive reply again, or success
        assert user.server.reply_text(retry) in (None, user.server.reply_text(first))
    if user.server.reply_text(first) is None:
        assert len(fake_wechat_api.sends_to(user.openid)) == 1
    else:
        assert fake_wechat_api.sends_to(user.openid) == []

    concurrent = wechat()
    xml = concurrent.server.text(concurrent.openid, "你好")
    deliveries = await asyncio.gather(*(concurrent.deliver(xml) for _ in range(3)))
    answers = [d for d in deliveries if concurrent.server.reply_text(d) is not None]
    if not answers:  # all acknowledged: one customer-service answer
        await concurrent.answer(deliveries[0], 0)
        assert len(fake_wechat_api.sends_to(concurrent.openid)) == 1
    await asyncio.sleep(0.5)
    if answers:  # answered passively: the same answer each time, nothing sent besides
        assert len({concurrent.server.reply_text(d) for d in answers}) == 1
        assert fake_wechat_api.sends_to(concurrent.openid) == []

    for openid in (user.openid, concurrent.openid):
        texts = [e["text"] for e in user_events(await tracker(running_stack, openid))]
        assert texts == ["你好"]


async def test_location_message_reaches_the_tracker_and_finds_the_branch(
    running_stack: RunningStack, wechat: Any
) -> None:
    user = wechat()
    lat, lng = XUJIAHUI
    reply = await user.send(user.server.location(user.openid, lat, lng, "上海市徐汇区虹桥路1号"))
    (event,) = user_events(await tracker(running_stack, user.openid))
    assert event["text"] == "/share_location"
    location = event["metadata"]["location"]
    assert (location["lat"], location["lng"]) == (lat, lng)
    assert location["label"] == "上海市徐汇区虹桥路1号"
    # The dialogue is part of the product: a model without it must fail, not skip.
    intents = await domain_intents(running_stack)
    assert {"share_location", "find_branch"} <= set(intents), "the trained model's domain lacks them"
    assert "action_find_branch" in await domain_actions(running_stack)
    assert "【徐家汇支行】（距您约" in reply, reply
    assert reply.index("【徐家汇支行】") == reply.index("【"), reply  # the nearest comes first


# -- slow action server: a second Rasa server behind a delaying proxy ---------------


class SlowProxy:
    """Forwards action-server calls after ``delay`` seconds (aiohttp, own thread)."""

    def __init__(self, target: str, delay: float) -> None:
        self.target = target
        self.delay = delay
        self.port = free_port()
        self.calls = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="slow-proxy", daemon=True)
        self._ready = threading.Event()

    async def _forward(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.read()
        await asyncio.sleep(self.delay)
        async with aiohttp.ClientSession() as http, http.request(
            request.method,
            f"{self.target}{request.path_qs}",
            data=body,
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
        ) as resp:
            return web.Response(
                body=await resp.read(), status=resp.status, content_type=resp.content_type
            )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class RasaOnly(Stack):
    """Just the Rasa server of a Stack (the bank and action server are shared)."""

    def plan(self) -> list[Process]:
        return [p for p in super().plan() if p.name == "rasa"]


@pytest.fixture(scope="module")
def slow_rasa(
    running_stack: RunningStack, fake_wechat_api: FakeWeChatAPI, tmp_path_factory: Any
) -> Iterator[str]:
    """A second Rasa server whose action calls take 2 s and whose WeChat channel
    waits only 0.3 s for a passive reply. Yields its WeChat webhook URL."""
    base = running_stack.settings
    action_url = f"http://{base.host}:{base.action_port}"
    with SlowProxy(action_url, delay=2.0) as proxy:
        data_dir: Path = tmp_path_factory.mktemp("slow-rasa")
        port = free_port()
        settings = replace(
            base,
            rasa_port=port,
            rasa_url=f"http://{base.host}:{port}",
            action_port=proxy.port,  # ACTION_ENDPOINT_URL -> the slow proxy
            data_dir=data_dir,
        )
        env = {**wechat_env(fake_wechat_api.url), "WECHAT_REPLY_WAIT_SECONDS": "0.3"}
        stack = RasaOnly(settings, MODEL, extra_env=env)
        try:
            stack.start()
        except RuntimeError:
            stack.stop()
            raise
        try:
            yield f"{settings.rasa_url}/webhooks/wechat/webhook"
        finally:
            stack.stop()


async def test_slow_action_server_acks_then_answers_once(
    slow_rasa: str, fake_wechat_api: FakeWeChatAPI, running_stack: RunningStack
) -> None:
    server = WeChatServer(slow_rasa)
    async with aiohttp.ClientSession() as http:
        user = WeChatUser(server, http, fake_wechat_api)
        xml = server.text(user.openid, "查余额")
        delivery = await user.deliver(xml)
        assert delivery.text == "success"
        # Acknowledged long before WeChat's 5 s (the channel waits ~0.3 s for Rasa here).
        assert delivery.elapsed < 3.0
        # WeChat would not retry after success; a stray retry changes nothing.
        retry = await user.deliver(xml)
        assert retry.text == "success"
        reply = await user.answer(delivery, 0)
        assert "手机号" in reply
        await asyncio.sleep(2.5)  # nothing more arrives
    assert len(fake_wechat_api.sends_to(user.openid)) == 1
    with urllib.request.urlopen(
        f"{slow_rasa.split('/webhooks')[0]}/conversations/{user.openid}/tracker"
        f"?token={running_stack.rasa_token}",
        timeout=5,
    ) as resp:
        events = json.loads(resp.read())["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == ["查余额"]
