"""Staff replies to WeChat customers and WeChat's customer-service budget.

The console is the real app (real SQLite, login, CSRF). Behind the Rasa stand-in of
test_takeover.py sits the real WeChat channel: the stand-in sends bot events
appended with side effects through the channel's output channel (as Rasa's
``execute_side_effects`` does) and answers ``/webhooks/wechat/budget/<openid>``
with the channel's own handler. Customers write through the channel's callback
handler (signed like WeChat); only WeChat's API is a fake.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.channels.wechat import WeChatInput
from bot.channels.wechat.channel import CallbackRequest
from bot.channels.wechat.dedupe import MemoryStore
from bot.console.models import Message
from tests.bot.channels.wechat import conftest as wechat_fixtures
from tests.bot.channels.wechat.conftest import ScriptedAgent, wechat_config
from tests.bot.channels.wechat.fake_api import FakeWeChatAPI
from tests.bot.channels.wechat.simulator import WeChatServer
from tests.bot.console import test_takeover as takeover_tests
from tests.bot.console.test_takeover import (
    ADMIN,
    SUPPORT,
    TOKEN,
    Console,
    FakeRasa,
    add_conversation,
)

# The console fixtures of test_takeover.py (``rasa`` is replaced below) and the fake
# WeChat API of the channel tests.
make_console = takeover_tests.make_console
console = takeover_tests.console
browsers = takeover_tests.browsers
fake_wechat = wechat_fixtures.fake_api

OPENID = "oWeChatCustomer0000000001"
BLOCKED = "客户在微信里回复之前，微信不允许再发送消息（每条客户消息后最多 5 条，48 小时内有效）"


class RasaWithWeChat(FakeRasa):
    """The Rasa stand-in with the real WeChat channel behind it."""

    def __init__(self, channel: WeChatInput) -> None:
        super().__init__()
        self.channel = channel
        self.agent = ScriptedAgent()
        self.wechat = WeChatServer("http://wechat.invalid/webhooks/wechat/webhook")
        self.budget_down = False

    async def customer_writes(self, openid: str, text: str) -> None:
        params, body = self.wechat.sign_request(self.wechat.text(openid, text), "safe")
        reply = await self.channel.handle_post(
            CallbackRequest(params, body), self.agent.handle_message
        )
        assert reply.status == 200

    async def append(self, request: web.Request) -> web.Response:
        answer = await super().append(request)
        if self.calls[-1]["side_effects"]:
            output = self.channel.get_output_channel()
            assert output is not None
            for event in self.calls[-1]["events"]:
                if event.get("event") == "bot":
                    await output.send_response(request.match_info["sender"], {"text": event["text"]})
        return answer

    async def budget(self, request: web.Request) -> web.Response:
        if self.budget_down:
            raise web.HTTPServiceUnavailable()
        reply = await self.channel.handle_budget(
            request.match_info["openid"], request.query.get("token")
        )
        return web.json_response(reply.data, status=reply.status)

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/webhooks/wechat/budget/{openid}", self.budget)
        return app


@pytest.fixture
async def rasa(aiohttp_server: Any, fake_wechat: FakeWeChatAPI) -> AsyncIterator[tuple[RasaWithWeChat, str]]:
    channel = WeChatInput(wechat_config(fake_wechat.url), store=MemoryStore(), api_token=TOKEN)
    fake = RasaWithWeChat(channel)
    server = await aiohttp_server(fake.app())
    yield fake, str(server.make_url("")).rstrip("/")
    await channel.drain(5)
    if channel.api is not None:
        await channel.api.close()


def panel_line(page: str) -> str:
    found = re.search(r'id="takeover-wechat"[^>]*>([^<]*)<', page)
    assert found, "no WeChat line in the takeover panel"
    return found.group(1).strip()


def staff_messages(console: Console, conversation_id: int) -> list[Message]:
    return console.db(
        lambda s: list(
            s.execute(
                select(Message).where(
                    Message.conversation_id == conversation_id, Message.kind == "staff"
                )
            ).scalars()
        )
    )


async def take_wechat_conversation(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any
) -> tuple[Any, int]:
    fake, _ = rasa
    await fake.customer_writes(OPENID, "转人工")
    conv = add_conversation(console, OPENID, channel="wechat")
    support = await browsers(SUPPORT)
    status, _, _ = await support.post(f"/console/conversations/{conv}/take")
    assert status == 303
    return support, conv


async def test_the_panel_counts_down_what_staff_may_still_send(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any, fake_wechat: FakeWeChatAPI
) -> None:
    fake, _ = rasa
    support, conv = await take_wechat_conversation(console, rasa, browsers)
    # "人工客服小王为您服务" went out through the customer-service API: one of five.
    assert len(fake_wechat.sends_to(OPENID)) == 1
    page = await support.get_text(f"/console/conversations/{conv}")
    assert panel_line(page) == "微信限制：客户回复前还可发送 4 条。"

    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "您好，请问要查哪张卡？"}, json=True
    )
    assert status == 200 and body["ok"] is True and "warning" not in body
    assert body["wechat"] == {
        "known": True, "left": 3, "window_open": True, "blocked": False,
        "text": "微信限制：客户回复前还可发送 3 条。",
    }
    assert fake_wechat.texts_to(OPENID)[-1] == "您好，请问要查哪张卡？"
    status, data = await support.get(f"/api/takeover/{conv}/wechat-budget")
    assert status == 200 and data["wechat"]["left"] == 3


async def test_no_budget_left_refuses_the_reply_and_writes_nothing(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any, fake_wechat: FakeWeChatAPI
) -> None:
    fake, _ = rasa
    support, conv = await take_wechat_conversation(console, rasa, browsers)
    for n in range(4):
        status, _, _ = await support.post(
            f"/console/conversations/{conv}/reply", {"text": f"第{n + 1}条"}, json=True
        )
        assert status == 200
    assert len(fake_wechat.sends_to(OPENID)) == 5
    page = await support.get_text(f"/console/conversations/{conv}")
    assert panel_line(page).startswith(BLOCKED)
    assert "takeover-wechat-blocked" in page
    calls = len(fake.calls)

    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "第六条"}, json=True
    )
    assert status == 409 and body["code"] == "wechat_quota"
    assert body["error"].startswith(BLOCKED)
    assert body["wechat"]["left"] == 0 and body["wechat"]["blocked"] is True
    assert len(fake.calls) == calls  # no Rasa event written
    assert "第六条" not in [e["text"] for e in fake.sent(OPENID)]
    assert staff_messages(console, conv) == []
    # The HTML form gets the same explanation.
    status, _, page = await support.post(f"/console/conversations/{conv}/reply", {"text": "第六条"})
    assert status == 409 and BLOCKED in page
    assert len(fake.calls) == calls

    await fake.customer_writes(OPENID, "卡号尾号1234")  # the customer writes: five again
    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "好的，马上为您查询"}, json=True
    )
    assert status == 200 and body["wechat"]["left"] == 4
    assert fake_wechat.texts_to(OPENID)[-1] == "好的，马上为您查询"


async def test_a_closed_window_refuses_the_reply(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any, fake_wechat: FakeWeChatAPI
) -> None:
    fake, _ = rasa
    support, conv = await take_wechat_conversation(console, rasa, browsers)
    fake_wechat.errors = [45015]  # WeChat: more than 48 h since the customer wrote
    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "还在吗"}, json=True
    )
    assert status == 200 and "48 小时" in body["warning"]  # not delivered: staff are told
    assert body["wechat"]["window_open"] is False and body["wechat"]["blocked"] is True
    calls = len(fake.calls)
    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "在吗"}, json=True
    )
    assert status == 409 and body["code"] == "wechat_quota"
    assert len(fake.calls) == calls


async def test_a_failed_send_is_reported_to_staff(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any, fake_wechat: FakeWeChatAPI
) -> None:
    support, conv = await take_wechat_conversation(console, rasa, browsers)
    fake_wechat.errors = [45009]  # a refusal that spends nothing
    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "请稍等"}, json=True
    )
    assert status == 200 and "没有确认收到" in body["warning"]  # the JS shows it
    assert body["wechat"]["left"] == 4


async def test_an_unreachable_budget_is_said_but_the_reply_still_goes(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any, fake_wechat: FakeWeChatAPI
) -> None:
    fake, _ = rasa
    support, conv = await take_wechat_conversation(console, rasa, browsers)
    fake.budget_down = True
    page = await support.get_text(f"/console/conversations/{conv}")
    assert "无法确认微信发送额度" in panel_line(page)
    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "请稍等"}, json=True
    )
    assert status == 200 and body["wechat"]["known"] is False
    assert "warning" not in body
    assert fake_wechat.texts_to(OPENID)[-1] == "请稍等"


async def test_a_wrong_token_counts_as_unknown_not_as_zero(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any
) -> None:
    fake, _ = rasa
    fake.channel.api_token = "another-token"  # the channel answers 403
    support, conv = await take_wechat_conversation(console, rasa, browsers)
    status, data = await support.get(f"/api/takeover/{conv}/wechat-budget")
    assert status == 200 and data["wechat"]["known"] is False


async def test_other_channels_are_unaffected(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "web-quota-1", channel="socketio")
    support = await browsers(SUPPORT)
    assert (await support.post(f"/console/conversations/{conv}/take"))[0] == 303
    page = await support.get_text(f"/console/conversations/{conv}")
    assert 'id="takeover-wechat"' not in page
    for n in range(7):
        status, _, body = await support.post(
            f"/console/conversations/{conv}/reply", {"text": f"第{n + 1}条"}, json=True
        )
        assert status == 200 and "wechat" not in body
    assert len(fake.sent("web-quota-1")) == 8  # joined + seven replies
    status, data = await support.get(f"/api/takeover/{conv}/wechat-budget")
    assert status == 200 and data == {"wechat": None}


async def test_only_the_holder_sees_the_count(
    console: Console, rasa: tuple[RasaWithWeChat, str], browsers: Any
) -> None:
    support, conv = await take_wechat_conversation(console, rasa, browsers)
    admin = await browsers(ADMIN)
    assert "还可发送 4 条" in panel_line(await admin.get_text(f"/console/conversations/{conv}"))
    trainer_page = await (await browsers(("trainer", "trainer-demo-2026"))).get_text(
        f"/console/conversations/{conv}"
    )
    assert 'id="takeover-wechat"' not in trainer_page
