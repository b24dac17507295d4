"""WeChat's customer-service budget in a live takeover, on the real stack.

The WeChat channel inside the real Rasa server (started with the stack's API token)
answers ``/webhooks/wechat/budget/<openid>``; the console shows the count in the
takeover panel and refuses a reply WeChat would not deliver. Only WeChat's API is
the session's fake.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.bot.channels.wechat.fake_api import FakeWeChatAPI
from tests.bot.channels.wechat.simulator import WeChatServer
from tests.conftest import RunningStack
from tests.integration import test_takeover as takeover_tests
from tests.integration.test_takeover import QUIET, ConsoleStaff, waiting_in_queue
from tests.integration.test_wechat import WeChatUser

pytestmark = pytest.mark.integration

staff = takeover_tests.staff  # the support person's logged-in console session

BLOCKED = "客户在微信里回复之前，微信不允许再发送消息"


async def panel_text(staff: ConsoleStaff, cid: int) -> str:
    async with staff.http.get(f"{staff.stack.web_url}/console/conversations/{cid}") as resp:
        assert resp.status == 200
        page = await resp.text()
    found = re.search(r'id="takeover-wechat"[^>]*>([^<]*)<', page)
    assert found, "no WeChat budget in the takeover panel"
    return found.group(1).strip()


@pytest.fixture
async def user(
    running_stack: RunningStack, fake_wechat_api: FakeWeChatAPI
) -> AsyncIterator[WeChatUser]:
    async with aiohttp.ClientSession() as http:
        yield WeChatUser(WeChatServer(running_stack.wechat_url), http, fake_wechat_api)


async def test_staff_see_the_budget_and_cannot_send_past_it(
    running_stack: RunningStack, fake_wechat_api: FakeWeChatAPI, staff: ConsoleStaff,
    user: WeChatUser,
) -> None:
    await user.say("转人工")
    cid = await waiting_in_queue(staff, running_stack, user.openid)

    url = f"{running_stack.rasa_url}/webhooks/wechat/budget/{user.openid}"
    async with user.http.get(url) as resp:
        assert resp.status == 403  # per-user state: Rasa's API token only
    async with user.http.get(url, params={"token": "not-the-token"}) as resp:
        assert resp.status == 403
    async with user.http.get(url, params=running_stack.rasa_params) as resp:
        assert resp.status == 200
        budget = await resp.json()
    assert budget["window_open"] is True and budget["last_user_message_at"]
    # 5 after the customer's message, less what an answer too slow for a passive reply took
    assert budget["left"] == 5 - len(fake_wechat_api.sends_to(user.openid))

    assert (await staff.post(f"/console/conversations/{cid}/take"))[0] == 303
    left = 5 - len(fake_wechat_api.sends_to(user.openid))  # the joined message took one
    assert await panel_text(staff, cid) == f"微信限制：客户回复前还可发送 {left} 条。"

    for n in range(left):
        status, _ = await staff.post(f"/console/conversations/{cid}/reply", text=f"第{n + 1}条")
        assert status == 303
    assert fake_wechat_api.texts_to(user.openid)[-1] == f"第{left}条"
    assert (await panel_text(staff, cid)).startswith(BLOCKED)

    sends = len(fake_wechat_api.sends_to(user.openid))
    status, page = await staff.post(f"/console/conversations/{cid}/reply", text="这条发不出去")
    assert status == 409 and BLOCKED in page
    await asyncio.sleep(QUIET)  # nothing reaches the transcript either
    feed = await staff.live(cid)
    assert "这条发不出去" not in [m["text"] for m in feed["messages"]]
    assert len(fake_wechat_api.sends_to(user.openid)) == sends

    await user.deliver(user.server.text(user.openid, "好的"))  # the customer writes: 5 again
    assert await panel_text(staff, cid) == "微信限制：客户回复前还可发送 5 条。"
    status, _ = await staff.post(f"/console/conversations/{cid}/reply", text="马上为您查询")
    assert status == 303
    assert fake_wechat_api.texts_to(user.openid)[-1] == "马上为您查询"

    assert (await staff.post(f"/console/conversations/{cid}/hand-back"))[0] == 303
