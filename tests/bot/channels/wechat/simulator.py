"""A WeChat-server simulator: signed (and encrypted) callbacks over HTTP (R22).

It builds exactly what WeChat's servers send to ``/webhooks/wechat/webhook``:

* query ``signature = sha1(sorted([token, timestamp, nonce]))``, ``timestamp``,
  ``nonce``; in compatible/safe mode also ``encrypt_type=aes``,
  ``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))`` and
  ``openid``;
* body: plain XML (明文), plain fields plus ``<Encrypt>`` (兼容), or only
  ``<ToUserName>`` and ``<Encrypt>`` (安全), the ciphertext made with
  wechatpy's ``PrpCrypto`` (AES-256-CBC, random16 | len | xml | appid).

Replies are decoded the way WeChat does: encrypted replies are checked against
their ``MsgSignature`` and decrypted.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.channels.wechat.security import sign

TEST_TOKEN = "bankbot-test-token"
TEST_AES_KEY = "My0CxKlv5jEX85j1ddxT3tPvya0aepjM/JUVV36DuMQ"
TEST_APPID = "wx0123456789abcdef"
TEST_SECRET = "bankbot-test-secret"
TEST_ACCOUNT = "gh_bankbot0001"

_msg_ids = itertools.count(int(time.time() * 1000) * 1000 + random.randrange(1000))


def next_msg_id() -> int:
    return next(_msg_ids)


def cdata(value: Any) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class Delivery:
    """One callback as sent: query, body and what came back."""

    params: dict[str, str]
    body: bytes
    status: int = 0
    text: str = ""
    elapsed: float = 0.0


class WeChatServer:
    """Sends messages to a channel URL the way WeChat's servers do."""

    def __init__(
        self,
        url: str,
        token: str = TEST_TOKEN,
        aes_key: str = TEST_AES_KEY,
        appid: str = TEST_APPID,
        account: str = TEST_ACCOUNT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.token = token
        self.aes_key = aes_key
        self.appid = appid
        self.account = account
        self.clock = clock
        self.crypto = WeChatCrypto(token, aes_key, appid)

    # -- message XML --------------------------------------------------------

    def _xml(self, openid: str, msg_type: str, fields: dict[str, Any], create_time: int | None) -> str:
        parts = [
            f"<ToUserName>{cdata(self.account)}</ToUserName>",
            f"<FromUserName>{cdata(openid)}</FromUserName>",
            f"<CreateTime>{create_time or int(self.clock())}</CreateTime>",
            f"<MsgType>{cdata(msg_type)}</MsgType>",
        ]
        for name, value in fields.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parts.append(f"<{name}>{value}</{name}>")
            else:
                parts.append(f"<{name}>{cdata(value)}</{name}>")
        return "<xml>" + "".join(parts) + "</xml>"

    def text(self, openid: str, content: str, msg_id: int | None = None, **extra: Any) -> str:
        fields = {"Content": content, **extra, "MsgId": msg_id or next_msg_id()}
        return self._xml(openid, "text", fields, None)

    def voice(self, openid: str, recognition: str | None = None, msg_id: int | None = None) -> str:
        fields: dict[str, Any] = {"MediaId": "media-voice-1", "Format": "amr"}
        if recognition is not None:
            fields["Recognition"] = recognition
        fields["MsgId"] = msg_id or next_msg_id()
        return self._xml(openid, "voice", fields, None)

    def location(
        self, openid: str, lat: float, lng: float, label: str = "", msg_id: int | None = None
    ) -> str:
        fields = {
            "Location_X": lat,
            "Location_Y": lng,
            "Scale": 15,
            "Label": label,
            "MsgId": msg_id or next_msg_id(),
        }
        return self._xml(openid, "location", fields, None)

    def image(self, openid: str, msg_id: int | None = None) -> str:
        fields = {
            "PicUrl": "http://mmbiz.qpic.cn/example.jpg",
            "MediaId": "media-image-1",
            "MsgId": msg_id or next_msg_id(),
        }
        return self._xml(openid, "image", fields, None)

    def link(self, openid: str, msg_id: int | None = None) -> str:
        fields = {
            "Title": "某网页",
            "Description": "desc",
            "Url": "https://example.com/",
            "MsgId": msg_id or next_msg_id(),
        }
        return self._xml(openid, "link", fields, None)

    def video(self, openid: str, msg_id: int | None = None) -> str:
        fields = {"MediaId": "m", "ThumbMediaId": "t", "MsgId": msg_id or next_msg_id()}
        return self._xml(openid, "video", fields, None)

    def event(
        self, openid: str, event: str, create_time: int | None = None, **fields: Any
    ) -> str:
        return self._xml(openid, "event", {"Event": event, **fields}, create_time)

    # -- signing and encryption --------------------------------------------

    def encrypt(self, xml: str) -> str:
        return PrpCrypto(self.crypto.key).encrypt(xml, self.appid).decode()

    def sign_request(
        self,
        xml: str,
        mode: str = "safe",
        *,
        timestamp: str | None = None,
        nonce: str | None = None,
        openid: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Query and body for ``xml`` in ``plain``, ``compatible`` or ``safe`` mode."""
        timestamp = timestamp or str(int(self.clock()))
        nonce = nonce or str(random.randrange(10**9, 10**10))
        params = {
            "signature": sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        if mode == "plain":
            return params, xml.encode("utf-8")
        encrypt = self.encrypt(xml)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(self.token, timestamp, nonce, encrypt)
        if openid is None:
            openid = xmltodict.parse(xml)["xml"]["FromUserName"]
        params["openid"] = openid
        if mode == "compatible":
            body = xml[: -len("</xml>")] + f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        else:
            body = (
                f"<xml><ToUserName>{cdata(self.account)}</ToUserName>"
                f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>"
            )
        return params, body.encode("utf-8")

    async def send(
        self,
        session: aiohttp.ClientSession,
        xml: str,
        mode: str = "safe",
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        **sign_kwargs: Any,
    ) -> Delivery:
        """POST one callback; ``params``/``body`` override the signed ones (tampering)."""
        signed_params, signed_body = self.sign_request(xml, mode, **sign_kwargs)
        delivery = Delivery(
            params if params is not None else signed_params,
            body if body is not None else signed_body,
        )
        return await self.post(session, delivery)

    async def post(self, session: aiohttp.ClientSession, delivery: Delivery) -> Delivery:
        started = time.monotonic()
        async with session.post(
            self.url,
            params=delivery.params,
            data=delivery.body,
            headers={"Content-Type": "text/xml"},
        ) as resp:
            delivery.text = await resp.text()
            delivery.status = resp.status
        delivery.elapsed = time.monotonic() - started
        return delivery

    async def verify_url(
        self, session: aiohttp.ClientSession, echostr: str, *, tamper: bool = False
    ) -> tuple[int, str]:
        timestamp = str(int(self.clock()))
        nonce = str(random.randrange(10**9, 10**10))
        signature = sign(self.token, timestamp, nonce)
        if tamper:
            signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
        params = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
        async with session.get(self.url, params=params) as resp:
            return resp.status, await resp.text()

    # -- replies ------------------------------------------------------------

    def decode_reply(self, text: str, encrypted: bool = True) -> dict[str, Any] | None:
        """The reply as WeChat reads it: None for ``success``/empty, else the ``<xml>`` dict."""
        if text in ("", "success"):
            return None
        outer = xmltodict.parse(text)["xml"]
        if not encrypted:
            return dict(outer)
        expected = sign(self.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        assert outer["MsgSignature"] == expected, "reply MsgSignature does not verify"
        inner = PrpCrypto(self.crypto.key).decrypt(outer["Encrypt"], self.appid)
        return dict(xmltodict.parse(inner)["xml"])

    def reply_text(self, delivery: Delivery, encrypted: bool = True) -> str | None:
        reply = self.decode_reply(delivery.text, encrypted)
        return None if reply is None else str(reply.get("Content") or "")
