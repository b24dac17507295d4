"""The WeChat Official Account (公众号) channel: a Rasa ``InputChannel`` on Sanic.

Register it in ``credentials.yml`` (values from the environment, see
:mod:`bot.channels.wechat.config`)::

    bot.channels.wechat.WeChatInput:
      token: ""
      aes_key: ""
      appid: ""
      secret: ""

WeChat calls ``/webhooks/wechat/webhook``:

* ``GET``: URL verification; ``echostr`` is returned verbatim when the
  signature is right.
* ``POST``: a message or event. Every request is checked (body size, signature,
  timestamp, safe XML; in compatible/safe mode ``msg_signature``, decryption and
  the AppID), then de-duplicated, then handed to Rasa as an asyncio task. If
  Rasa finishes within ``reply_wait_seconds`` (3.5 s) the bot's messages go
  back as one passive reply (encrypted when the request was); otherwise the
  channel answers ``success`` at once (WeChat gives up after 5 s and retries)
  and delivers the answer through the customer-service API when it is ready.
  At most ``max_concurrent_turns`` turns run at once; a message that finds them
  all busy waits for a slot (first come, first served; the wait counts towards
  ``reply_wait_seconds``), so that Rasa's event loop stays free enough to answer
  every callback in time. When the queue is so long that the answer cannot be
  ready within the wait (judged by the recent turn times), ``success`` goes back
  at once instead of holding WeChat's request for nothing.

Rejections: bad signature, wrong AppID, stale timestamp, replayed nonce -> 403;
bad XML (including any DOCTYPE/ENTITY) -> 400; body over the cap -> 413. All are
logged (without the body) and none is a 500.

``GET /webhooks/wechat/budget/<openid>?token=<Rasa API token>`` is not for
WeChat: it tells the staff console how many customer-service messages the
channel may still send to that user (``left``), whether the window is open and
when the user last wrote. The channel's store is the only record of that budget.
It needs Rasa's HTTP API token (``RASA_TOKEN``, as the console sends it) and is
refused with 403 otherwise, or when the server has no token at all.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.replies import TextReply

from .api import (
    APIUnavailable,
    ContentTooLong,
    NotAllowed,
    OutOfWindow,
    RateLimited,
    ResponseCountExceeded,
    WeChatAPI,
    WeChatAPIError,
)
from .config import WeChatConfig
from .dedupe import COMPLETED, Deduper, NonceGuard, Store, UserMemory, make_store
from .inbound import Inbound, Turn, message_key
from .render import (
    OptionMemory,
    as_text_payload,
    escape_cdata,
    render_kf,
    render_passive,
    split_utf8,
)
from .security import (
    BadXML,
    BodyTooLarge,
    Forbidden,
    FreshnessGuard,
    RequestRejected,
    check_body_size,
    check_msg_signature,
    check_url_signature,
    parse_xml,
)

logger = logging.getLogger(__name__)

SUCCESS = "success"
BUDGET_TOPIC = "kf_budget"
DELIVERY_TOPIC = "kf_delivery"
KF_WINDOW_SECONDS = 48 * 3600
EVENT_WINDOW_SECONDS = 60


def mask(openid: str) -> str:
    """An openid for logs: enough to correlate, not the whole identifier."""
    return f"{openid[:6]}***" if openid else "-"


@dataclass
class Reply:
    """An HTTP answer, independent of Sanic (the handlers are unit-testable)."""

    status: int = 200
    body: str = SUCCESS
    content_type: str = "text/plain; charset=utf-8"

    def to_sanic(self) -> HTTPResponse:
        return response.text(self.body, status=self.status, content_type=self.content_type)


@dataclass
class JSONReply:
    """A JSON answer (the budget endpoint), independent of Sanic."""

    status: int
    data: dict[str, Any]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class CollectingOutput(OutputChannel):
    """Records everything Rasa says during one turn (text, buttons, images, custom)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @classmethod
    def name(cls) -> str:
        return "wechat"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append({"text": text})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.messages.append({"text": text, "buttons": list(buttons)})

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.messages.append({"text": text, "buttons": list(quick_replies)})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        self.messages.append({"image": image})

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        self.messages.append({"attachment": attachment})

    async def send_elements(
        self, recipient_id: str, elements: Any, **kwargs: Any
    ) -> None:
        for element in elements or []:
            if not isinstance(element, dict):
                continue
            title = element.get("title", "")
            subtitle = element.get("subtitle", "")
            text = f"{title}\n{subtitle}".strip()
            self.messages.append({"text": text, "buttons": list(element.get("buttons") or [])})

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        self.messages.append({"custom": json_message})


class WeChatOutput(CollectingOutput):
    """Sends each message at once through the customer-service API.

    Used by Rasa for messages outside a user turn (``get_output_channel``, e.g.
    ``/conversations/<openid>/execute`` or a staff reply after a handover).
    """

    def __init__(self, channel: WeChatInput) -> None:
        super().__init__()
        self.channel = channel

    async def _flush(self, recipient_id: str) -> None:
        batch, self.messages = self.messages, []
        await self.channel.deliver(recipient_id, batch)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await super().send_text_message(recipient_id, text)
        await self._flush(recipient_id)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await super().send_text_with_buttons(recipient_id, text, buttons)
        await self._flush(recipient_id)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await super().send_quick_replies(recipient_id, text, quick_replies)
        await self._flush(recipient_id)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await super().send_image_url(recipient_id, image)
        await self._flush(recipient_id)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await super().send_attachment(recipient_id, attachment)
        await self._flush(recipient_id)

    async def send_elements(self, recipient_id: str, elements: Any, **kwargs: Any) -> None:
        await super().send_elements(recipient_id, elements)
        await self._flush(recipient_id)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await super().send_custom_json(recipient_id, json_message)
        await self._flush(recipient_id)


@dataclass
class CallbackRequest:
    """The parts of a callback request the handlers need."""

    args: Mapping[str, str]
    body: bytes = b""
    remote: str = "-"


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WeChatInput(InputChannel):
    """WeChat Official Account channel (plaintext, compatible and safe mode)."""

    def __init__(
        self,
        config: WeChatConfig,
        *,
        store: Store | None = None,
        api: WeChatAPI | None = None,
        clock: Callable[[], float] = time.time,
        api_token: str | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        # Rasa's HTTP API token guards the budget endpoint (bot/run.py sets RASA_TOKEN).
        self.api_token = os.environ.get("RASA_TOKEN", "") if api_token is None else api_token
        self.store = store or make_store(config.store, config.redis_url, config.redis_prefix)
        self.memory = UserMemory(self.store)
        self.deduper = Deduper(
            self.store, config.processing_ttl_seconds, config.completed_ttl_seconds
        )
        self.nonces = NonceGuard(self.store, config.nonce_ttl_seconds)
        self.freshness = FreshnessGuard(config.timestamp_tolerance_seconds, clock)
        self.options = OptionMemory(self.memory, config.option_ttl_seconds)
        self.inbound = Inbound(config, self.memory, self.options)
        self.api = api if api is not None else self._make_api()
        self.crypto = self._make_crypto()
        self.msgmenu_allowed = config.use_msgmenu
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turn_slots: asyncio.Semaphore | None = None  # made in the serving loop
        self._queued = 0  # turns waiting for a slot
        self._running: dict[object, float] = {}  # start times of the turns in the slots
        self._turn_seconds: float | None = None  # moving average of recent turn times
        if not config.configured:
            logger.warning(
                "%s channel has no token (%sTOKEN): every callback is refused with 503",
                self.name(),
                config.env_prefix,
            )

    def _make_api(self) -> WeChatAPI | None:
        cfg = self.config
        if not cfg.can_call_api:
            return None
        return WeChatAPI(
            cfg.appid,
            cfg.secret,
            cfg.api_base,
            timeout=cfg.api_timeout_seconds,
            store=self.store if cfg.store == "redis" else None,
        )

    def _make_crypto(self) -> Any:
        cfg = self.config
        if not (cfg.token and cfg.aes_key and self.receive_id):
            return None
        return WeChatCrypto(cfg.token, cfg.aes_key, self.receive_id)

    # -- Rasa plumbing ------------------------------------------------------

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> WeChatInput:
        return cls(WeChatConfig.from_credentials(credentials))

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WeChatOutput(self)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint(f"{self.name()}_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": self.config.configured})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            reply = await self.handle_get(self._request(request))
            return reply.to_sanic()

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            req = self._request(request)
            try:
                req.body = await self._read_body(request)
            except RequestRejected as exc:
                return self._rejected(exc, req).to_sanic()
            try:
                reply = await self.handle_post(req, on_new_message)
            except Exception:  # e.g. the shared store is down: WeChat should retry
                logger.exception("WeChat callback failed")
                reply = Reply(503, "try again")
            return reply.to_sanic()

        @bp.route("/budget/<openid>", methods=["GET"])
        async def budget(request: Request, openid: str) -> HTTPResponse:
            reply = await self.handle_budget(openid, request.args.get("token"), request.ip or "-")
            return response.json(reply.data, status=reply.status)

        @bp.listener("before_server_stop")
        async def drain(*_: Any) -> None:
            await self.drain()

        return bp

    @staticmethod
    def _request(request: Request) -> CallbackRequest:
        args = {key: request.args.get(key) for key in request.args}
        return CallbackRequest(args=args, remote=request.remote_addr or request.ip or "-")

    async def _read_body(self, request: Request) -> bytes:
        """The request body, refused as soon as it passes the cap (never buffered whole)."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"declared body of {declared} bytes exceeds {limit}")
        stream = request.stream
        if stream is None:  # not a streaming route: Sanic has read the body already
            body = bytes(request.body or b"")
            check_body_size(body, limit)
            return body
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await stream.read()
            if chunk is None:
                break
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- background work ----------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _slots(self) -> asyncio.Semaphore | None:
        limit = self.config.max_concurrent_turns
        if limit <= 0:
            return None
        if self._turn_slots is None:
            self._turn_slots = asyncio.Semaphore(limit)
        return self._turn_slots

    async def _run_turn(self, on_new_message: OnNewMessage, message: UserMessage) -> Any:
        """One Rasa turn, after waiting for a free slot (first come, first served)."""
        slots = self._slots()
        if slots is None:
            return await on_new_message(message)
        self._queued += 1
        try:
            await slots.acquire()
        finally:
            self._queued -= 1
        started = time.monotonic()
        token = object()
        self._running[token] = started
        try:
            return await on_new_message(message)
        finally:
            slots.release()
            del self._running[token]
            took = time.monotonic() - started
            previous = self._turn_seconds
            self._turn_seconds = took if previous is None else 0.8 * previous + 0.2 * took

    def _answer_cannot_be_passive(self) -> bool:
        """True when every slot is busy and the turns queued ahead leave no chance of
        an answer within ``reply_wait_seconds``. A turn is taken to last as long as
        recent turns did, or as long as the oldest running one has run so far."""
        limit = self.config.max_concurrent_turns
        slots = self._turn_slots
        if limit <= 0 or slots is None or not slots.locked():
            return False
        turn = self._turn_seconds or 0.0
        if self._running:
            turn = max(turn, time.monotonic() - min(self._running.values()))
        expected = ((self._queued + 1) / limit + 1) * turn
        return expected > self.config.reply_wait_seconds

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for pending answers (server shutdown, tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # -- GET: URL verification ---------------------------------------------

    async def handle_get(self, req: CallbackRequest) -> Reply:
        if not self.config.configured:
            return Reply(503, "wechat channel not configured")
        args = req.args
        try:
            check_url_signature(
                self.config.token,
                args.get("signature"),
                args.get("timestamp") or "",
                args.get("nonce") or "",
            )
            self.freshness.check(args.get("timestamp") or "")
        except RequestRejected as exc:
            return self._rejected(exc, req)
        return Reply(200, args.get("echostr") or "")

    # -- POST: messages and events -----------------------------------------

    def _rejected(self, exc: RequestRejected, req: CallbackRequest) -> Reply:
        logger.warning("WeChat callback from %s refused (%s): %s", req.remote, exc.status, exc.reason)
        return Reply(exc.status, "forbidden" if exc.status == 403 else "bad request")

    # Hooks the WeCom variant overrides.
    receive_id_label = "AppID"
    prp_class: Any = PrpCrypto
    id_exception: type[Exception] = InvalidAppIdException

    @property
    def receive_id(self) -> str:
        """The id at the end of every encrypted message (the AppID here)."""
        return self.config.appid

    def _check_query_signature(self, args: Mapping[str, str], timestamp: str, nonce: str) -> None:
        check_url_signature(self.config.token, args.get("signature"), timestamp, nonce)

    def _is_encrypted(self, args: Mapping[str, str]) -> bool:
        # Compatible and safe mode: dispatch on encrypt_type, not on configuration.
        return (args.get("encrypt_type") or "raw").lower() == "aes"

    def _parse(self, xml: str) -> Any:
        return parse_message(xml)

    def open_request(self, req: CallbackRequest) -> tuple[Any, bool]:
        """Check and decode a callback: (wechatpy message, was it encrypted)."""
        cfg = self.config
        args = req.args
        timestamp = args.get("timestamp") or ""
        nonce = args.get("nonce") or ""
        check_body_size(req.body, cfg.max_body_bytes)
        self._check_query_signature(args, timestamp, nonce)
        self.freshness.check(timestamp)
        root = parse_xml(req.body, cfg.max_body_bytes)
        encrypted = self._is_encrypted(args)
        if encrypted:
            if self.crypto is None:
                raise Forbidden("encrypted callback but no EncodingAESKey configured")
            encrypt = root.get("Encrypt")
            if not isinstance(encrypt, str) or not encrypt:
                raise BadXML("encrypted callback without <Encrypt>")
            check_msg_signature(cfg.token, args.get("msg_signature"), timestamp, nonce, encrypt)
            xml = self._decrypt(encrypt)
            parse_xml(xml, cfg.max_body_bytes)  # the same screening for the inner document
        else:
            xml = req.body.decode("utf-8", errors="strict") if req.body else ""
        try:
            msg = self._parse(xml)
        except Exception as exc:  # missing MsgType, bad field values
            raise BadXML(f"not a WeChat message ({exc.__class__.__name__})") from exc
        if msg is None or not msg.source:
            raise BadXML("message without FromUserName")
        query_openid = args.get("openid")
        if query_openid and query_openid != msg.source:
            raise Forbidden("openid in the query does not match FromUserName")
        return msg, encrypted

    def _decrypt(self, encrypt: str) -> str:
        assert self.crypto is not None
        try:
            return str(self.prp_class(self.crypto.key).decrypt(encrypt, self.receive_id))
        except self.id_exception as exc:
            raise Forbidden(f"wrong {self.receive_id_label} in the encrypted message") from exc
        except Exception as exc:  # bad base64, padding, length or UTF-8
            raise Forbidden(f"undecryptable message ({exc.__class__.__name__})") from exc

    def _passive(self, reply_xml: str, encrypted: bool, req: CallbackRequest) -> Reply:
        if encrypted and self.crypto is not None:
            body = self.crypto.encrypt_message(
                reply_xml, req.args.get("nonce") or "", str(int(self.clock()))
            )
        else:
            body = reply_xml
        return Reply(200, body, "application/xml; charset=utf-8")

    reply_class: Any = TextReply

    def text_reply_xml(self, msg: Any, text: str) -> str:
        """Passive text reply XML with ``]]>`` escaped (wechatpy's CDATA is not)."""
        return str(self.reply_class(message=msg, content=escape_cdata(text)).render())

    async def handle_post(self, req: CallbackRequest, on_new_message: OnNewMessage) -> Reply:
        if not self.config.configured:
            return Reply(503, "wechat channel not configured")
        try:
            msg, encrypted = self.open_request(req)
            key = message_key(msg)
            if not await self.nonces.check(
                req.args.get("timestamp") or "", req.args.get("nonce") or "", key
            ):
                raise Forbidden("nonce replayed with a different message")
        except RequestRejected as exc:
            return self._rejected(exc, req)
        except UnicodeDecodeError:
            return self._rejected(BadXML("body is not UTF-8"), req)

        mark = await self.deduper.begin(key)
        if mark is not None:
            logger.info(
                "duplicate delivery of a %s from %s (%s)", msg.type, mask(msg.source), mark.state
            )
            if mark.state == COMPLETED and mark.reply:
                return self._passive(mark.reply, encrypted, req)
            return Reply()

        try:
            turn = await self.inbound.turn(msg)
        except Exception:
            logger.exception("could not map a WeChat %s message", msg.type)
            await self.deduper.fail(key)
            return Reply(503, "try again")
        if turn.silent:
            await self.deduper.complete(key)
            return Reply()
        if turn.reply is not None:
            reply_xml = self.text_reply_xml(msg, turn.reply)
            await self.deduper.complete(key, reply_xml)
            return self._passive(reply_xml, encrypted, req)
        return await self._converse(msg, key, turn, encrypted, req, on_new_message)

    async def _converse(
        self,
        msg: Any,
        key: str,
        turn: Turn,
        encrypted: bool,
        req: CallbackRequest,
        on_new_message: OnNewMessage,
    ) -> Reply:
        openid = msg.source
        await self._grant_budget(openid, turn.is_event)
        output = CollectingOutput()
        user_message = UserMessage(
            turn.text,
            output,
            openid,
            input_channel=self.name(),
            metadata=turn.metadata,
        )
        busy = self._answer_cannot_be_passive()
        task = asyncio.ensure_future(self._run_turn(on_new_message, user_message))
        if busy:
            logger.info("Rasa is busy: acknowledged %s at once, answering asynchronously",
                        mask(openid))
            self._spawn(self._finish_async(task, key, openid, output))
            return Reply()
        try:
            await asyncio.wait({task}, timeout=self.config.reply_wait_seconds)
        except asyncio.CancelledError:
            # WeChat hung up while we waited: answer through the API instead.
            self._spawn(self._finish_async(task, key, openid, output))
            raise
        if not task.done():
            logger.info(
                "Rasa is slow for %s: acknowledged, answering asynchronously", mask(openid)
            )
            self._spawn(self._finish_async(task, key, openid, output))
            return Reply()
        if task.exception() is not None:
            logger.error(
                "Rasa failed on a message from %s", mask(openid), exc_info=task.exception()
            )
            await self.deduper.fail(key)
            return Reply(503, "try again")  # not success: WeChat retries
        rendered = render_passive(output.messages, self.config.text("options_hint"))
        await self.options.remember(openid, rendered.options)
        pieces = split_utf8(rendered.text)
        if not pieces:
            await self.deduper.complete(key)
            return Reply()
        reply_xml = self.text_reply_xml(msg, pieces[0])
        await self.deduper.complete(key, reply_xml)
        if len(pieces) > 1:  # longer than one passive reply: the rest goes by the API
            rest = [{"text": piece} for piece in pieces[1:]]
            self._spawn(self.deliver(openid, rest, remember_options=False))
        return self._passive(reply_xml, encrypted, req)

    async def _finish_async(
        self, task: asyncio.Future[Any], key: str, openid: str, output: CollectingOutput
    ) -> None:
        try:
            await task
        except Exception:
            logger.exception("Rasa failed on a message from %s (after the ack)", mask(openid))
            await self.deduper.fail(key)
            return
        await self.deduper.complete(key)
        await self.deliver(openid, output.messages)

    # -- the budget endpoint (for the staff console) -------------------------

    def token_ok(self, provided: str | None) -> bool:
        """Rasa's API token, compared in constant time; no token configured: never."""
        if not self.api_token or not provided:
            return False
        return hmac.compare_digest(provided.encode("utf-8"), self.api_token.encode("utf-8"))

    async def handle_budget(self, openid: str, token: str | None, remote: str = "-") -> JSONReply:
        """What the channel knows of ``openid``'s customer-service budget."""
        if not self.token_ok(token):
            logger.warning(
                "budget request for %s from %s refused: wrong or missing token", mask(openid), remote
            )
            return JSONReply(403, {"error": "forbidden"})
        return JSONReply(200, await self.budget_status(openid))

    async def budget_status(self, openid: str) -> dict[str, Any]:
        """``left`` sends, ``window_open``, ``window_closes_at`` and
        ``last_user_message_at`` (Unix seconds or None), ``quota`` (sends allowed
        per user message) and ``last_delivery`` (``seq``, ``at``, ``sent``, ``ok``,
        ``error``: the last customer-service delivery to this user, or None)."""
        record = await self._budget_record(openid)
        delivery = await self.memory.get(DELIVERY_TOPIC, openid)
        window_open = self._window_open(record)
        return {
            "left": self._left(record),
            "window_open": window_open,
            "window_closes_at": _number(record.get("until")) if record and window_open else None,
            "last_user_message_at": _number(record.get("at")) if record else None,
            "quota": self.config.kf_quota,
            "last_delivery": delivery if isinstance(delivery, dict) else None,
        }

    # -- customer-service sends -------------------------------------------

    async def _budget_record(self, openid: str) -> dict[str, Any] | None:
        """``left``, ``until`` (window end), ``at`` (the user's last message),
        ``closed`` (WeChat said 45015); None when there is no window."""
        current = await self.memory.get(BUDGET_TOPIC, openid)
        return current if isinstance(current, dict) else None

    def _window_open(self, record: dict[str, Any] | None) -> bool:
        if record is None or record.get("closed"):
            return False
        until = _number(record.get("until"))
        return until is None or until > self.clock()

    def _left(self, record: dict[str, Any] | None) -> int:
        if record is None or not self._window_open(record):
            return 0
        return max(0, int(record.get("left", 0)))

    async def _grant_budget(self, openid: str, is_event: bool) -> None:
        """A user message allows ``kf_quota`` sends within 48 h; an event (menu
        click, subscribe, scan) ``event_kf_quota`` within a minute."""
        now = self.clock()
        current = await self._budget_record(openid)
        if is_event:
            left, ttl = self.config.event_kf_quota, EVENT_WINDOW_SECONDS
            if current is not None and int(current.get("left", 0)) > left:
                return  # a recent user message allows more
            record: dict[str, Any] = {"left": left, "until": now + ttl}
            if current is not None and current.get("at") is not None:
                record["at"] = current["at"]  # when the user last wrote, still known
        else:
            left, ttl = self.config.kf_quota, KF_WINDOW_SECONDS
            record = {"left": left, "until": now + ttl, "at": now}
        await self.memory.put(BUDGET_TOPIC, openid, record, ttl)

    async def _budget(self, openid: str) -> int:
        return self._left(await self._budget_record(openid))

    async def _spend(
        self, openid: str, current: dict[str, Any], left: int, *, closed: bool = False
    ) -> None:
        """Record ``left`` sends remaining in ``current`` (the record the delivery
        started from); the window itself does not move."""
        until = _number(current.get("until"))
        ttl = KF_WINDOW_SECONDS if until is None else until - self.clock()
        if ttl <= 0:
            return
        record = {**current, "left": max(0, left)}
        if closed:
            record["closed"] = True
        await self.memory.put(BUDGET_TOPIC, openid, record, ttl)

    async def deliver(
        self, openid: str, messages: list[dict[str, Any]], *, remember_options: bool = True
    ) -> int:
        """Send Rasa messages through the customer-service API; returns how many went out.

        The outcome is remembered (``last_delivery`` of :meth:`budget_status`), so
        that the staff console can tell whether a staff reply reached the user."""
        if not messages:
            return 0
        sent, failure = await self._deliver(openid, messages, remember_options)
        previous = await self.memory.get(DELIVERY_TOPIC, openid)
        seq = int(previous.get("seq", 0)) + 1 if isinstance(previous, dict) else 1
        outcome: dict[str, Any] = {"seq": seq, "at": self.clock(), "sent": sent, "ok": failure is None}
        if failure is not None:
            outcome["error"] = failure
        await self.memory.put(DELIVERY_TOPIC, openid, outcome, KF_WINDOW_SECONDS)
        return sent

    async def _deliver(
        self, openid: str, messages: list[dict[str, Any]], remember_options: bool
    ) -> tuple[int, str | None]:
        """(sends that went out, why not all did or None)."""
        if self.api is None:
            logger.error("cannot answer %s: no WECHAT_APPID/WECHAT_SECRET for the API", mask(openid))
            return 0, "no_api"
        record = await self._budget_record(openid)
        budget = self._left(record)
        if record is None or budget <= 0:
            logger.warning("no customer-service quota left for %s; answer dropped", mask(openid))
            return 0, "no_quota"
        rendered = render_kf(
            openid,
            messages,
            hint=self.config.text("options_hint"),
            use_msgmenu=self.msgmenu_allowed,
            quota=budget,
        )
        if remember_options:
            await self.options.remember(openid, rendered.options)
        sent = 0
        failure: str | None = None
        for payload in rendered.payloads:
            try:
                await self._send_one(payload)
            except ResponseCountExceeded:
                logger.warning("45047 for %s: no more sends until the user writes again", mask(openid))
                await self._spend(openid, record, 0)
                failure = "45047"
                break
            except OutOfWindow:
                logger.warning("45015 for %s: 48 h window over or unsubscribed", mask(openid))
                await self._spend(openid, record, 0, closed=True)
                failure = "45015"
                break
            except (RateLimited, APIUnavailable) as exc:
                logger.error("customer-service send to %s failed: %s", mask(openid), exc)
                failure = "unavailable"
                break
            except WeChatAPIError as exc:
                logger.error("customer-service send to %s refused: %s", mask(openid), exc)
                failure = "refused"
                continue
            sent += 1
            budget -= 1
            await self._spend(openid, record, budget)
        return sent, failure

    async def _send_one(self, payload: dict[str, Any]) -> None:
        assert self.api is not None
        try:
            await self.api.send_custom(payload)
        except NotAllowed:
            if payload.get("msgtype") != "msgmenu":
                raise
            # 40200/48001: this account may not send msgmenu; numbered text instead.
            logger.warning("msgmenu not allowed for this account; using numbered options")
            self.msgmenu_allowed = False
            await self.api.send_custom(as_text_payload(payload, self.config.text("options_hint")))
        except ContentTooLong:
            if payload.get("msgtype") != "text":
                raise
            content = payload["text"]["content"]
            for piece in split_utf8(content, 1000):
                await self.api.send_custom({**payload, "text": {"content": piece}})
