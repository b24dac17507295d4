"""The WeCom (企业微信) self-built app variant: encrypted callbacks, AgentID replies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import xmltodict
from rasa.core.channels.channel import UserMessage
from wechatpy.enterprise.crypto import PrpCrypto as EnterprisePrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as EnterpriseCrypto

from bot.channels.wechat import WeComConfig, WeComInput
from bot.channels.wechat.channel import CallbackRequest
from bot.channels.wechat.dedupe import MemoryStore
from bot.channels.wechat.security import sign

from .test_vectors import D_AES_KEY, D_CORP_ID, D_TOKEN

AGENT_ID = 1000002


def channel(reply_wait: float = 3.5) -> WeComInput:
    config = WeComConfig(
        token=D_TOKEN,
        aes_key=D_AES_KEY,
        corp_id=D_CORP_ID,
        agent_id=AGENT_ID,
        reply_wait_seconds=reply_wait,
    )
    return WeComInput(config, store=MemoryStore())


def callback(xml: str, nonce: str = "1597212914") -> CallbackRequest:
    """What WeCom posts: only msg_signature, timestamp and nonce in the query."""
    timestamp = str(int(time.time()))
    encrypt = EnterprisePrpCrypto(EnterpriseCrypto(D_TOKEN, D_AES_KEY, D_CORP_ID).key).encrypt(
        xml, D_CORP_ID
    ).decode()
    body = (
        f"<xml><ToUserName><![CDATA[{D_CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
    )
    args = {
        "msg_signature": sign(D_TOKEN, timestamp, nonce, encrypt),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    return CallbackRequest(args=args, body=body.encode())


def text_xml(user: str, content: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{D_CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>"
    )


async def echo(message: UserMessage) -> None:
    await message.output_channel.send_response(message.sender_id, {"text": f"回声：{message.text}"})


def decrypt_reply(body: str) -> dict[str, Any]:
    outer = xmltodict.parse(body)["xml"]
    assert outer["MsgSignature"] == sign(D_TOKEN, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
    inner = EnterprisePrpCrypto(EnterpriseCrypto(D_TOKEN, D_AES_KEY, D_CORP_ID).key).decrypt(
        outer["Encrypt"], D_CORP_ID
    )
    return dict(xmltodict.parse(inner)["xml"])


async def test_encrypted_text_gets_an_encrypted_reply_with_the_agent_id() -> None:
    wecom = channel()
    received: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)
        await echo(message)

    reply = await wecom.handle_post(callback(text_xml("ChenJiaShun", "你好", 1)), on_new_message)
    assert reply.status == 200
    inner = decrypt_reply(reply.body)
    assert (inner["Content"], inner["ToUserName"], inner["AgentID"]) == (
        "回声：你好",
        "ChenJiaShun",
        str(AGENT_ID),
    )
    assert received[0].input_channel == "wechat_work"
    assert received[0].sender_id == "ChenJiaShun"
    # the retry is de-duplicated
    again = await wecom.handle_post(
        callback(text_xml("ChenJiaShun", "你好", 1), nonce="2"), on_new_message
    )
    assert decrypt_reply(again.body)["Content"] == "回声：你好"
    assert len(received) == 1


async def test_tampered_or_foreign_callbacks_are_403() -> None:
    wecom = channel()
    req = callback(text_xml("ChenJiaShun", "你好", 2))
    req.args = {**req.args, "msg_signature": "0" * 40}
    assert (await wecom.handle_post(req, echo)).status == 403
    other = WeComInput(
        WeComConfig(token=D_TOKEN, aes_key=D_AES_KEY, corp_id="ww0000000000000000"),
        store=MemoryStore(),
    )
    assert (await other.handle_post(callback(text_xml("u", "x", 3)), echo)).status == 403


async def test_slow_turn_is_sent_through_message_send() -> None:
    sent: list[dict[str, Any]] = []

    class RecordingAPI:
        async def send_custom(self, payload: dict[str, Any]) -> dict[str, Any]:
            sent.append(payload)
            return {"errcode": 0}

    wecom = channel(reply_wait=0.05)
    wecom.api = RecordingAPI()  # type: ignore[assignment]

    async def slow(message: UserMessage) -> None:
        await asyncio.sleep(0.2)
        await message.output_channel.send_response(
            message.sender_id,
            {"text": "请选择", "buttons": [{"title": "查余额", "payload": "/check_balance"}]},
        )

    reply = await wecom.handle_post(callback(text_xml("ChenJiaShun", "帮助", 4)), slow)
    assert (reply.status, reply.body) == (200, "success")
    await wecom.drain(5)
    # no msgmenu in WeCom apps: numbered options
    assert sent == [
        {
            "touser": "ChenJiaShun",
            "msgtype": "text",
            "text": {"content": "请选择\n请回复序号选择：\n1. 查余额"},
        }
    ]
