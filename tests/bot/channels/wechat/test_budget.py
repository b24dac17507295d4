"""The budget endpoint: what the channel may still send to one user, for the staff console.

The channel runs on a real Sanic server (registered as ``rasa run`` does); the user
writes through the simulated WeChat server, staff messages go out through the
channel's output channel (as Rasa's ``execute_side_effects`` sends them), and the
customer-service API is the fake one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bot.channels.wechat.channel import mask

from .conftest import Harness
from .fake_api import FakeWeChatAPI
from .test_channel import new_openid, say

API_TOKEN = "rasa-api-token-for-tests"


def budget_url(h: Harness, openid: str) -> str:
    return h.url.rsplit("/webhook", 1)[0] + f"/budget/{openid}"


async def read_budget(h: Harness, openid: str, token: str | None = API_TOKEN) -> tuple[int, Any]:
    params = {"token": token} if token is not None else {}
    async with h.http.get(budget_url(h, openid), params=params) as resp:
        return resp.status, await resp.json()


async def staff_says(h: Harness, openid: str, text: str) -> None:
    """A message outside a user turn (a staff reply after a takeover)."""
    output = h.channel.get_output_channel()
    assert output is not None
    await output.send_response(openid, {"text": text})


@pytest.fixture
async def h(start_channel: Any) -> Harness:
    harness: Harness = await start_channel()
    harness.channel.api_token = API_TOKEN
    return harness


async def test_the_budget_needs_rasas_api_token(h: Harness) -> None:
    openid = new_openid()
    await say(h, openid, "你好")
    assert (await read_budget(h, openid, token=None)) == (403, {"error": "forbidden"})
    assert (await read_budget(h, openid, token="wrong"))[0] == 403
    assert (await read_budget(h, openid, token=API_TOKEN[:-1]))[0] == 403
    status, data = await read_budget(h, openid)
    assert status == 200 and data["left"] == 5
    async with h.http.post(budget_url(h, openid), params={"token": API_TOKEN}) as resp:
        assert resp.status == 405  # read only


async def test_a_server_without_a_token_never_answers(h: Harness) -> None:
    h.channel.api_token = ""
    openid = new_openid()
    await say(h, openid, "你好")
    assert (await read_budget(h, openid, token=""))[0] == 403
    assert (await read_budget(h, openid, token=None))[0] == 403


async def test_the_callback_route_is_unchanged(h: Harness) -> None:
    status, data = await read_budget(h, "webhook")  # an "openid" that names the callback
    assert status == 200 and data["left"] == 0
    delivery = await say(h, new_openid(), "你好", "plain")
    assert delivery.status == 200 and "回声：你好" in delivery.text


async def test_left_after_user_messages_and_sends(h: Harness, fake_api: FakeWeChatAPI) -> None:
    openid = new_openid()
    status, data = await read_budget(h, openid)
    assert status == 200
    assert data == {
        "left": 0, "window_open": False, "window_closes_at": None, "last_user_message_at": None,
        "quota": 5, "last_delivery": None,
    }

    before = time.time()
    await say(h, openid, "转人工")  # answered passively: costs nothing
    _, data = await read_budget(h, openid)
    assert data["left"] == 5 and data["window_open"] is True
    assert before - 1 <= data["last_user_message_at"] <= time.time()
    assert data["window_closes_at"] == pytest.approx(data["last_user_message_at"] + 48 * 3600)
    written_at = data["last_user_message_at"]

    await staff_says(h, openid, "您好，我是客服小王")
    await staff_says(h, openid, "请问有什么可以帮您？")
    _, data = await read_budget(h, openid)
    assert data["left"] == 3 and data["last_user_message_at"] == written_at
    # Spending does not move the window: it still closes 48 h after the user wrote.
    assert data["window_closes_at"] == pytest.approx(written_at + 48 * 3600)

    for n in range(3):
        await staff_says(h, openid, f"第{n + 1}条")
    _, data = await read_budget(h, openid)
    assert data["left"] == 0 and data["window_open"] is True
    assert data["last_delivery"]["seq"] == 5 and data["last_delivery"]["ok"] is True
    await staff_says(h, openid, "第六条发不出去")
    assert len(fake_api.sends_to(openid)) == 5
    _, data = await read_budget(h, openid)
    assert data["last_delivery"]["seq"] == 6
    assert data["last_delivery"]["ok"] is False and data["last_delivery"]["error"] == "no_quota"

    await say(h, openid, "好的")
    _, data = await read_budget(h, openid)
    assert data["left"] == 5 and data["last_user_message_at"] >= written_at


@pytest.mark.parametrize(("errcode", "window_open"), [(45015, False), (45047, True)])
async def test_wechat_refusals_use_the_budget_up(
    h: Harness, fake_api: FakeWeChatAPI, errcode: int, window_open: bool
) -> None:
    """45015: the 48 h window is over (or the user left); 45047: the count is used up."""
    openid = new_openid()
    await say(h, openid, "你好")
    fake_api.errors = [errcode]
    await staff_says(h, openid, "还在吗")
    _, data = await read_budget(h, openid)
    assert data["left"] == 0 and data["window_open"] is window_open
    assert data["last_delivery"]["error"] == str(errcode) and data["last_delivery"]["sent"] == 0


async def test_an_event_allows_a_few_sends_for_a_minute(h: Harness) -> None:
    openid = new_openid()
    clock = {"now": 1_800_000_000.0}
    h.channel.clock = lambda: clock["now"]
    await h.wechat.send(h.http, h.wechat.event(openid, "CLICK", EventKey="/check_balance"))
    _, data = await read_budget(h, openid)
    assert data["left"] == 3 and data["last_user_message_at"] is None
    assert data["window_closes_at"] == clock["now"] + 60
    clock["now"] += 61
    _, data = await read_budget(h, openid)
    assert data == {
        "left": 0, "window_open": False, "window_closes_at": None, "last_user_message_at": None,
        "quota": 5, "last_delivery": None,
    }


async def test_openids_are_masked_in_the_logs(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    openid = new_openid()
    await say(h, openid, "你好")
    with caplog.at_level(logging.DEBUG):
        await read_budget(h, openid, token="wrong")
        await read_budget(h, openid)
    assert mask(openid) in caplog.text and "refused" in caplog.text
    assert openid not in caplog.text
