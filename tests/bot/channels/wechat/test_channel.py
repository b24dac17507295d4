"""The channel over HTTP: a simulated WeChat server, the real Sanic route, a scripted agent.

Every request here is built like WeChat's (signed; encrypted in compatible and
safe mode) and sent over a socket to the channel registered the way ``rasa run``
registers it. Customer-service sends land in the fake WeChat API.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from bot.channels.wechat import WeChatInput
from bot.channels.wechat.channel import CallbackRequest
from bot.channels.wechat.dedupe import RedisStore

from .conftest import Harness
from .fake_api import FakeWeChatAPI
from .simulator import Delivery, WeChatServer

MODES = ["plain", "compatible", "safe"]
BUTTONS = [
    {
        "text": "请问您要办理什么业务？",
        "buttons": [
            {"title": "查余额", "payload": "/check_balance"},
            {"title": "转账", "payload": "/transfer_money"},
        ],
    }
]


def new_openid() -> str:
    return f"oTest{uuid.uuid4().hex[:20]}"


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def say(h: Harness, openid: str, text: str, mode: str = "safe", **kw: Any) -> Delivery:
    """A text message; ``timestamp``/``nonce``/``openid`` go to the signing, the
    rest become extra XML fields."""
    signing = {k: kw.pop(k) for k in ("timestamp", "nonce", "openid") if k in kw}
    return await h.wechat.send(h.http, h.wechat.text(openid, text, **kw), mode, **signing)


# -- verification and crypto --------------------------------------------------


async def test_url_verification(harness: Harness) -> None:
    status, body = await harness.wechat.verify_url(harness.http, "echo-123456")
    assert (status, body) == (200, "echo-123456")
    status, body = await harness.wechat.verify_url(harness.http, "echo-123456", tamper=True)
    assert status == 403 and "echo" not in body


@pytest.mark.parametrize("mode", MODES)
async def test_each_mode_gets_a_passive_reply_encrypted_like_the_request(
    harness: Harness, mode: str
) -> None:
    openid = new_openid()
    delivery = await say(harness, openid, "你好", mode)
    assert delivery.status == 200
    reply = harness.wechat.decode_reply(delivery.text, encrypted=mode != "plain")
    assert reply is not None
    assert reply["Content"] == "回声：你好"
    assert (reply["ToUserName"], reply["FromUserName"]) == (openid, harness.wechat.account)
    if mode != "plain":
        assert "<Encrypt>" in delivery.text and "回声" not in delivery.text
    message = harness.agent.received[-1]
    assert (message.sender_id, message.input_channel, message.text) == (openid, "wechat", "你好")


async def test_tampered_signatures_are_403(harness: Harness) -> None:
    openid = new_openid()
    xml = harness.wechat.text(openid, "转账五千")
    params, body = harness.wechat.sign_request(xml, "safe")
    for key in ("signature", "msg_signature"):
        bad = dict(params)
        bad[key] = bad[key][:-1] + ("0" if bad[key][-1] != "0" else "1")
        delivery = await harness.wechat.send(harness.http, xml, params=bad, body=body)
        assert delivery.status == 403, key
    missing = {k: v for k, v in params.items() if k != "signature"}
    assert (await harness.wechat.send(harness.http, xml, params=missing, body=body)).status == 403
    # the body changed after signing
    other = harness.wechat.sign_request(harness.wechat.text(openid, "转账五万"), "safe")[1]
    assert (await harness.wechat.send(harness.http, xml, params=params, body=other)).status == 403
    assert harness.agent.received == []


async def test_wrong_appid_is_403(harness: Harness) -> None:
    impostor = WeChatServer(harness.url, appid="wx0000000000000000")
    delivery = await impostor.send(harness.http, impostor.text(new_openid(), "hi"), "safe")
    assert delivery.status == 403
    wrong_key = WeChatServer(harness.url, aes_key="A" * 43)
    delivery = await wrong_key.send(harness.http, wrong_key.text(new_openid(), "hi"), "safe")
    assert delivery.status == 403
    assert harness.agent.received == []


async def test_entity_bomb_is_rejected_fast(harness: Harness) -> None:
    from .test_security import BILLION_LAUGHS

    started = time.monotonic()
    for mode in ("plain", "safe"):
        delivery = await harness.wechat.send(harness.http, BILLION_LAUGHS, mode, openid="o1")
        assert 400 <= delivery.status < 500
    assert time.monotonic() - started < 1.0
    assert harness.agent.received == []


async def test_oversized_body_is_413(harness: Harness) -> None:
    openid = new_openid()
    delivery = await say(harness, openid, "长" * 30000, "plain")  # ~90 KB
    assert delivery.status == 413
    assert harness.agent.received == []


async def test_stale_timestamp_and_replayed_nonce_are_403(harness: Harness) -> None:
    openid = new_openid()
    stale = str(int(time.time()) - 3600)
    assert (await say(harness, openid, "hi", timestamp=stale)).status == 403
    first = await say(harness, openid, "one", nonce="777")
    assert first.status == 200
    replay = await say(harness, openid, "two", nonce="777", timestamp=first.params["timestamp"])
    assert replay.status == 403
    assert harness.agent.texts() == ["one"]


async def test_query_openid_must_match_the_sender(harness: Harness) -> None:
    xml = harness.wechat.text(new_openid(), "hi")
    delivery = await harness.wechat.send(harness.http, xml, "safe", openid="oSomebodyElse")
    assert delivery.status == 403


async def test_unconfigured_channel_refuses_with_503(start_channel: Any) -> None:
    h = await start_channel(token="")
    assert (await say(h, new_openid(), "hi", "plain")).status == 503
    assert (await h.wechat.verify_url(h.http, "x"))[0] == 503


# -- the 5-second rule ---------------------------------------------------------


async def test_slow_turn_acks_success_then_one_async_answer(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=0.3)
    h.agent.delay = 0.8
    openid = new_openid()
    delivery = await say(h, openid, "查余额")
    assert delivery.status == 200 and delivery.text == "success"
    assert delivery.elapsed < 1.0
    await wait_for(lambda: fake_api.sends_to(openid), timeout=5)
    await h.channel.drain(5)
    sends = fake_api.sends_to(openid)
    assert len(sends) == 1
    assert sends[0]["text"]["content"] == "回声：查余额"


async def test_turns_beyond_the_limit_wait_for_a_slot_and_all_are_answered(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=3.0, max_concurrent_turns=2)
    h.agent.delay = 0.3
    openids = [new_openid() for _ in range(6)]
    deliveries = await asyncio.gather(*(say(h, o, f"第{i}条") for i, o in enumerate(openids)))
    assert h.agent.most_running == 2
    # 6 turns of 0.3 s, two at a time, fit in the 3 s wait: all answered passively.
    for i, delivery in enumerate(deliveries):
        reply = h.wechat.decode_reply(delivery.text, encrypted=True)
        assert reply is not None and reply["Content"] == f"回声：第{i}条"
    assert not any(fake_api.sends_to(o) for o in openids)


async def test_a_queue_too_long_for_the_deadline_is_acknowledged_at_once(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=0.5, max_concurrent_turns=1)
    h.agent.delay = 0.4
    first = new_openid()
    await say(h, first, "预热")  # one turn teaches the channel how long turns take
    openids = [new_openid() for _ in range(4)]
    deliveries = await asyncio.gather(*(say(h, o, "查余额") for o in openids))
    acked = [d for d in deliveries if d.text == "success"]
    assert acked, "a hopeless wait must be answered with success"
    assert all(d.elapsed < 0.45 for d in acked[1:])  # the later ones did not wait at all
    pending = [o for o, d in zip(openids, deliveries, strict=True) if d.text == "success"]
    await wait_for(lambda: all(fake_api.sends_to(o) for o in pending), timeout=10)
    await h.channel.drain(10)
    for openid, delivery in zip(openids, deliveries, strict=True):
        answers = len(fake_api.sends_to(openid)) + (delivery.text != "success")
        assert answers == 1
    assert h.agent.most_running == 1


async def test_async_answer_uses_msgmenu_and_a_tap_maps_back(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=0.1)
    h.agent.delay = 0.3
    h.agent.replies["帮助"] = BUTTONS
    openid = new_openid()
    assert (await say(h, openid, "帮助")).text == "success"
    await h.channel.drain(5)
    (send,) = fake_api.sends_to(openid)
    assert send["msgtype"] == "msgmenu"
    assert send["msgmenu"]["list"] == [
        {"id": "1", "content": "查余额"},
        {"id": "2", "content": "转账"},
    ]
    h.agent.delay = 0
    # A msgmenu tap comes back as text with bizmsgmenuid.
    await say(h, openid, "转账", bizmsgmenuid="2")
    assert h.agent.received[-1].text == "/transfer_money"


async def test_msgmenu_refused_falls_back_to_numbered_text(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    fake_api.msgmenu_allowed = False  # a test account answers 40200
    h = await start_channel(reply_wait_seconds=0.05)
    h.agent.delay = 0.2
    h.agent.replies["帮助"] = BUTTONS
    openid = new_openid()
    await say(h, openid, "帮助")
    await h.channel.drain(5)
    (send,) = fake_api.sends_to(openid)
    assert send["msgtype"] == "text"
    assert send["text"]["content"].endswith("1. 查余额\n2. 转账")
    assert h.channel.msgmenu_allowed is False


async def test_token_expiry_during_an_async_answer_is_refreshed(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=0.05)
    h.agent.delay = 0.2
    first, second = new_openid(), new_openid()
    await say(h, first, "一")
    await h.channel.drain(5)
    fake_api.expire_token()
    await say(h, second, "二")
    await h.channel.drain(5)
    assert [s["text"]["content"] for s in fake_api.sends] == ["回声：一", "回声：二"]
    assert fake_api.token_requests == 2


async def test_45047_stops_sending_until_the_user_writes_again(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=0.05)
    h.agent.delay = 0.1
    h.agent.replies["多条"] = [{"text": "长" * 1500}] * 3  # three 4.5 KB messages
    openid = new_openid()
    fake_api.quota = 2
    await say(h, openid, "多条")
    await h.channel.drain(5)
    assert len(fake_api.sends_to(openid)) == 2
    attempts = [a for a in fake_api.attempts if a["payload"].get("touser") == openid]
    assert len(attempts) == 3  # the third got 45047 and nothing more was tried
    assert await h.channel._budget(openid) == 0


async def test_45015_is_not_retried(start_channel: Any, fake_api: FakeWeChatAPI) -> None:
    h = await start_channel(reply_wait_seconds=0.05)
    h.agent.delay = 0.1
    h.agent.replies["多条"] = [{"text": "长" * 1500}] * 2
    openid = new_openid()
    fake_api.errors = [45015]
    await say(h, openid, "多条")
    await h.channel.drain(5)
    attempts = [a for a in fake_api.attempts if a["payload"].get("touser") == openid]
    assert len(attempts) == 1 and fake_api.sends_to(openid) == []


async def test_long_passive_reply_sends_the_rest_through_the_api(
    harness: Harness, fake_api: FakeWeChatAPI
) -> None:
    harness.agent.replies["明细"] = [{"text": "交易" * 600}, {"text": "结束"}]  # 3.6 KB
    openid = new_openid()
    delivery = await say(harness, openid, "明细")
    first = harness.wechat.reply_text(delivery)
    assert first is not None and len(first.encode()) <= 2048
    await harness.channel.drain(5)
    rest = fake_api.texts_to(openid)
    assert len(rest) == 1 and rest[0].endswith("结束")
    assert (first + rest[0]).count("交易") == 600


# -- retries -------------------------------------------------------------------


async def test_concurrent_triple_delivery_is_one_turn(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=0.2)
    h.agent.delay = 0.5
    openid = new_openid()
    xml = h.wechat.text(openid, "查余额")
    deliveries = await asyncio.gather(*(h.wechat.send(h.http, xml, "safe") for _ in range(3)))
    assert [d.text for d in deliveries] == ["success"] * 3
    await h.channel.drain(5)
    assert h.agent.texts() == ["查余额"]
    assert len(fake_api.sends_to(openid)) == 1


async def test_sequential_retries_get_the_same_cached_reply(harness: Harness) -> None:
    openid = new_openid()
    xml = harness.wechat.text(openid, "你好")
    replies = []
    for _ in range(3):  # WeChat re-signs each retry with a new nonce
        delivery = await harness.wechat.send(harness.http, xml, "safe")
        replies.append(harness.wechat.reply_text(delivery))
    assert replies == ["回声：你好"] * 3
    assert harness.agent.texts() == ["你好"]


async def test_failed_turn_is_not_marked_so_the_retry_succeeds(
    harness: Harness, fake_api: FakeWeChatAPI
) -> None:
    harness.agent.fail = 1
    openid = new_openid()
    xml = harness.wechat.text(openid, "你好")
    first = await harness.wechat.send(harness.http, xml, "safe")
    assert first.status == 503  # not success: WeChat will retry
    second = await harness.wechat.send(harness.http, xml, "safe")
    assert harness.wechat.reply_text(second) == "回声：你好"
    assert harness.agent.texts() == ["你好", "你好"]


async def test_failure_after_the_ack_clears_the_mark(
    start_channel: Any, fake_api: FakeWeChatAPI
) -> None:
    h = await start_channel(reply_wait_seconds=0.05)
    h.agent.delay = 0.2
    h.agent.fail = 1
    openid = new_openid()
    xml = h.wechat.text(openid, "你好")
    assert (await h.wechat.send(h.http, xml, "safe")).text == "success"
    await h.channel.drain(5)
    assert fake_api.sends_to(openid) == []
    # the mark is gone: a (late) retry is processed
    await h.wechat.send(h.http, xml, "safe")
    await h.channel.drain(5)
    assert h.agent.texts() == ["你好", "你好"]


async def test_event_dedupe_by_sender_time_and_event(harness: Harness) -> None:
    openid = new_openid()
    xml = harness.wechat.event(openid, "CLICK", create_time=1_700_000_000, EventKey="/check_balance")
    for _ in range(3):
        await harness.wechat.send(harness.http, xml, "safe")
    other = harness.wechat.event(openid, "CLICK", create_time=1_700_000_001, EventKey="/check_balance")
    await harness.wechat.send(harness.http, other, "safe")
    assert harness.agent.texts() == ["/check_balance", "/check_balance"]


# -- message types --------------------------------------------------------------


async def test_voice_uses_recognition_or_asks_to_type(harness: Harness) -> None:
    openid = new_openid()
    delivery = await harness.wechat.send(harness.http, harness.wechat.voice(openid, "查余额。"))
    assert harness.wechat.reply_text(delivery) == "回声：查余额"
    assert harness.agent.received[-1].metadata["wechat"]["voice"] is True
    delivery = await harness.wechat.send(harness.http, harness.wechat.voice(openid, None))
    assert "打字" in (harness.wechat.reply_text(delivery) or "")
    assert harness.agent.texts() == ["查余额"]


async def test_location_message_feeds_metadata(harness: Harness) -> None:
    openid = new_openid()
    xml = harness.wechat.location(openid, 31.1955, 121.4365, "上海市徐汇区徐家汇")
    await harness.wechat.send(harness.http, xml)
    message = harness.agent.received[-1]
    assert message.text == "/share_location"
    assert message.metadata["location"] == {
        "lat": 31.1955,
        "lng": 121.4365,
        "label": "上海市徐汇区徐家汇",
        "source": "message",
        "scale": 15.0,
    }


async def test_location_report_is_remembered_for_later_messages(harness: Harness) -> None:
    openid = new_openid()
    report = harness.wechat.event(
        openid, "LOCATION", Latitude=31.2304, Longitude=121.4737, Precision=30.0
    )
    delivery = await harness.wechat.send(harness.http, report)
    assert delivery.text == "success" and harness.agent.received == []
    await say(harness, openid, "附近网点")
    location = harness.agent.received[-1].metadata["location"]
    assert (location["lat"], location["lng"], location["source"]) == (31.2304, 121.4737, "report")


@pytest.mark.parametrize("kind", ["image", "link", "video"])
async def test_media_gets_a_polite_text_only_reply(harness: Harness, kind: str) -> None:
    openid = new_openid()
    xml = getattr(harness.wechat, kind)(openid)
    reply = harness.wechat.reply_text(await harness.wechat.send(harness.http, xml))
    assert reply is not None and "文字" in reply and "语音" in reply
    assert harness.agent.received == []


async def test_events(harness: Harness) -> None:
    w = harness.wechat
    openid = new_openid()
    await w.send(harness.http, w.event(openid, "subscribe"))
    await w.send(harness.http, w.event(openid, "subscribe", EventKey="qrscene_find_branch", Ticket="t"))
    await w.send(harness.http, w.event(openid, "SCAN", EventKey="check_balance", Ticket="t"))
    assert (await w.send(harness.http, w.event(openid, "unsubscribe"))).text == "success"
    await w.send(harness.http, w.event(openid, "CLICK", EventKey="/check_balance"))
    assert (await w.send(harness.http, w.event(openid, "CLICK", EventKey="bad key"))).text == "success"
    assert (await w.send(harness.http, w.event(openid, "VIEW", EventKey="https://x/"))).text == "success"
    assert harness.agent.texts() == ["/greet", "/find_branch", "/check_balance", "/check_balance"]
    assert harness.agent.received[1].metadata["wechat"]["scene"] == "find_branch"


async def test_numbered_options_in_a_passive_reply_map_back(harness: Harness) -> None:
    harness.agent.replies["帮助"] = BUTTONS
    openid = new_openid()
    reply = harness.wechat.reply_text(await say(harness, openid, "帮助"))
    assert reply == "请问您要办理什么业务？\n请回复序号选择：\n1. 查余额\n2. 转账"
    await say(harness, openid, "1")
    assert harness.agent.received[-1].text == "/check_balance"
    await say(harness, openid, "1")  # options are used up by the answer
    assert harness.agent.received[-1].text == "1"
    await say(harness, openid, "帮助")
    await say(harness, openid, "转账")
    assert harness.agent.received[-1].text == "/transfer_money"


async def test_cdata_terminator_in_replies_and_messages(harness: Harness) -> None:
    openid = new_openid()
    for mode in ("plain", "safe"):
        delivery = await say(harness, openid, "a]]>b<c>", mode)
        assert harness.wechat.reply_text(delivery, encrypted=mode == "safe") == "回声：a]]>b<c>"


async def test_openid_is_never_in_the_reply(harness: Harness) -> None:
    harness.agent.replies["你是谁"] = [{"text": "我是助手"}]
    openid = new_openid()
    delivery = await say(harness, openid, "你是谁", "plain")
    reply = harness.wechat.decode_reply(delivery.text, encrypted=False)
    assert reply is not None and openid not in reply["Content"]


async def test_output_channel_for_messages_outside_a_turn(
    harness: Harness, fake_api: FakeWeChatAPI
) -> None:
    openid = new_openid()
    await say(harness, openid, "你好")  # opens the customer-service window
    output = harness.channel.get_output_channel()
    assert output is not None
    await output.send_response(openid, {"text": "客服小王为您服务"})
    assert fake_api.texts_to(openid) == ["客服小王为您服务"]


async def test_redis_store_profile(start_channel: Any) -> None:
    import redis

    try:
        redis.Redis(socket_connect_timeout=1).ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no Redis: {exc}")
    h = await start_channel(store="redis", redis_prefix=f"test:wechat:{uuid.uuid4().hex}:")
    # start_channel passes a MemoryStore; this channel builds its store from the config
    channel = WeChatInput(h.channel.config)
    assert isinstance(channel.store, RedisStore)
    openid = new_openid()
    xml = h.wechat.text(openid, "你好")

    async def deliver() -> int:
        params, body = h.wechat.sign_request(xml, "safe")
        reply = await channel.handle_post(CallbackRequest(params, body), h.agent.handle_message)
        return reply.status

    assert [await deliver() for _ in range(3)] == [200, 200, 200]
    assert h.agent.texts() == ["你好"]
    await channel.store.close()
