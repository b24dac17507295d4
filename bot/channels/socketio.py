"""Web chat channel: Rasa's socket.io channel, fixed for this stack.

Register it in ``credentials.yml`` by module path::

    bot.channels.socketio.WebChatInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
      socketio_path: /socket.io
      metadata_key: customData

What differs from ``rasa.core.channels.socketio.SocketIOInput`` (Rasa 3.6.21):

* ``session_request`` awaits ``AsyncServer.enter_room`` (a coroutine since
  python-socketio 5.10; Rasa calls it without ``await``, so with
  ``session_persistence: true`` no reply ever reaches the browser,
  RasaHQ/rasa#13027).
* Session ids are the server-generated 32-hex-digit form only. Anything else
  gets a fresh id, so a web client cannot pick a sender id that belongs to
  another channel (a WeChat openid, say) and take over that conversation.
* Incoming messages are size-capped and their client-supplied metadata
  (``customData``) is reduced to a small dict of scalars. It is never proof of
  identity.
* Custom JSON responses are emitted as the event payload (Rasa passes them as
  keyword arguments to ``emit``, which fails for anything but ``data``).
* Bot texts are sent as markdown that shows them as written (rasa-webchat
  renders markdown): every line break stays a line break, lines starting with
  ``1. ``, ``• ``, ``- `` or ``▪ `` become real lists, and everything else is
  literal text: no HTML, links, emphasis or headings can come from a bot text
  or from customer input echoed in one (:func:`webchat_markdown`).
* Browsers may connect only from allowed origins, for polling and websocket
  alike: the web app's own origin plus ``WEBCHAT_ALLOWED_ORIGINS`` (``*`` in the
  sandbox profile; ``bot/settings.py``, docs/embed.md). Rasa's socket.io server
  has ``cors_allowed_origins=[]``, which checks nothing. Clients that send no
  ``Origin`` header (scripts, tests) are not browsers and are not checked.

The channel still reports itself to Rasa as ``socketio`` (``input_channel``),
so ``/conversations/<id>/execute`` with ``output_channel=latest`` finds it.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Optional

import engineio
import rasa.core.channels.channel
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_cors.core import SANIC_CORS_EVALUATED
from socketio import AsyncServer

from bot.settings import Settings

logger = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_MESSAGE_CHARS = 2000
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 256


def new_session_id() -> str:
    """A fresh, unguessable session id (the form ``rasa-webchat`` stores)."""
    return uuid.uuid4().hex


def valid_session_id(value: Any) -> bool:
    """True for a session id this channel could have issued."""
    return isinstance(value, str) and SESSION_ID_RE.fullmatch(value) is not None


def _is_small_scalar(value: Any) -> bool:
    """A JSON scalar, strings no longer than ``MAX_METADATA_VALUE_CHARS``."""
    if isinstance(value, str):
        return len(value) <= MAX_METADATA_VALUE_CHARS
    return value is None or isinstance(value, (bool, int, float))


def clean_metadata(raw: Any) -> dict[str, Any]:
    """Reduce client-supplied metadata to a small dict of JSON scalars.

    Accepts a dict or a JSON object encoded as a string; anything else, nested
    values, over-long keys and over-long strings are dropped.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        if len(cleaned) >= MAX_METADATA_KEYS:
            break
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_CHARS:
            continue
        if _is_small_scalar(value):
            cleaned[key] = value
    return cleaned


# -- bot text as markdown that shows exactly what was written -----------------

# A list line: "1. ", "• ", "- " or "▪ " and then text.
_LIST_LINE = re.compile(r"^[ \t\u3000]*(?:(\d{1,3})\.|([•\-▪]))[ \t\u3000]+(\S.*)$")
# ASCII punctuation markdown (remark, as bundled in rasa-webchat 1.0.1) could read
# as syntax: emphasis, links and autolinks, headings, lists, quotes, code, tables,
# HTML, entities, line-break escapes. Written as numeric character references,
# which the parser turns back into the same characters, always as plain text.
_MARKDOWN_SYNTAX = frozenset("!#&()*+-.:<=>[\\]_`{|}~")
HARD_BREAK = "  \n"


def _literal(text: str) -> str:
    """``text`` as markdown that renders as exactly this text (one line)."""
    out: list[str] = []
    after_space = True  # a line's leading spaces are dropped like repeated ones
    for char in text.replace("\t", "    "):
        if char == " ":
            # Leading and repeated spaces would be dropped (four could even
            # start a code block): keep them as no-break spaces.
            out.append("\u00a0" if after_space else " ")
            after_space = True
            continue
        after_space = False
        out.append(f"&#{ord(char)};" if char in _MARKDOWN_SYNTAX else char)
    return "".join(out)


def list_item(line: str) -> tuple[str, int | None, str] | None:
    """``(kind, number, text)`` for a list line (kind ``"ol"`` or ``"ul"``), else None."""
    match = _LIST_LINE.match(line)
    if match is None:
        return None
    number, _bullet, text = match.groups()
    if number is not None:
        return "ol", int(number), text
    return "ul", None, text


def webchat_markdown(text: str) -> str:
    """Plain bot text as markdown that rasa-webchat shows as written.

    Lines stay lines (hard breaks), runs of list lines become lists (numbered
    ones keep their first number), and all text is literal.
    """
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    kind = ""

    def flush() -> None:
        nonlocal kind
        if paragraph:
            blocks.append(HARD_BREAK.join(paragraph))
            paragraph.clear()
        if items:
            blocks.append("\n".join(items))
            items.clear()
        kind = ""

    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            continue
        item = list_item(line)
        if item is None:
            if items:
                flush()
            paragraph.append(_literal(line))
            continue
        item_kind, number, body = item
        if paragraph or (items and item_kind != kind):
            flush()
        kind = item_kind
        marker = f"{number}." if number is not None else "-"
        items.append(f"{marker} {_literal(body)}")
    flush()
    # Blocks apart by a blank line (within one chat message: Rasa has already
    # split the text at its own blank lines).
    return "\n\n".join(blocks)


def _text_parts(text: str) -> list[str]:
    """Rasa's rule: a blank line starts a new chat message."""
    parts = [part.strip() for part in text.strip().split("\n\n")]
    return [part for part in parts if part]


async def _maybe_await(result: Any) -> None:
    """Await ``result`` if it is awaitable (python-socketio >= 5.10 room calls)."""
    if inspect.isawaitable(result):
        await result


def _quick_reply(button: dict[str, Any]) -> dict[str, Any]:
    """A Rasa button as a rasa-webchat quick reply (links open in a new tab)."""
    title = str(button.get("title") or "")
    if button.get("type") == "web_url" and button.get("url"):
        return {"content_type": "text", "type": "web_url", "title": title, "url": button["url"]}
    return {"content_type": "text", "title": title, "payload": str(button.get("payload") or title)}


class OriginCheckingEngineIO(engineio.AsyncServer):
    """Engine.IO server that answers CORS for its own path itself.

    ``rasa run --cors`` adds Sanic-CORS headers to every response; on the
    socket.io path they would duplicate (and, for a refused origin, contradict)
    the ones Engine.IO sends, so the request is marked as already handled.
    """

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        ctx = getattr(args[0], "ctx", None) if args else None
        if ctx is not None:
            setattr(ctx, SANIC_CORS_EVALUATED, "1")
        return await super().handle_request(*args, **kwargs)


class WebChatServer(AsyncServer):
    """Socket.io server on :class:`OriginCheckingEngineIO`."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return OriginCheckingEngineIO


def origin_checker(allowed: tuple[str, ...]) -> Any:
    """``cors_allowed_origins`` for python-engineio: ``"*"`` or an exact-match check.

    Engine.IO refuses (400) a polling request or websocket handshake whose
    ``Origin`` header fails the check, and echoes an accepted origin in
    ``Access-Control-Allow-Origin``.
    """
    if "*" in allowed:
        return "*"
    accepted = frozenset(allowed)

    def check(origin: Optional[str], environ: Optional[dict[str, Any]] = None) -> bool:
        return origin in accepted

    return check


class WebChatOutput(SocketIOOutput):
    """Socket.io output that honours the namespace, emits custom JSON as data and
    sends texts as markdown that shows them as written."""

    def __init__(
        self, sio: AsyncServer, bot_message_evt: str, namespace: Optional[str] = None
    ) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace

    async def _send_message(self, socket_id: str, response: Any) -> None:
        """Emit one bot message to everybody in the conversation's room."""
        await self.sio.emit(
            self.bot_message_evt, response, room=socket_id, namespace=self.namespace
        )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """One chat message per paragraph (Rasa's rule), each as literal markdown."""
        for part in _text_parts(text):
            await self._send_message(recipient_id, {"text": webchat_markdown(part)})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Like :meth:`send_text_message`; the buttons go with the last paragraph."""
        parts = _text_parts(text) or [""]
        for part in parts[:-1]:
            await self._send_message(recipient_id, {"text": webchat_markdown(part)})
        await self._send_message(
            recipient_id,
            {
                "text": webchat_markdown(parts[-1]),
                "quick_replies": [_quick_reply(b) for b in buttons if isinstance(b, dict)],
            },
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """Emit a custom payload as is (``{"data": x}`` is unwrapped to ``x``).

        Always to this conversation: a ``room`` key (Rasa's way of addressing
        another socket) is dropped.
        """
        payload: Any = {key: value for key, value in json_message.items() if key != "room"}
        if set(payload) == {"data"}:
            payload = payload["data"]
        await self._send_message(recipient_id, payload)


class WebChatInput(SocketIOInput):
    """Rasa's socket.io input channel with working session persistence, origin
    checks and literal texts."""

    # Browser origins allowed to connect; None: from the settings when the
    # blueprint is built (WEBCHAT_ALLOWED_ORIGINS plus the web app's own).
    allowed_origins: Optional[tuple[str, ...]] = None

    @classmethod
    def name(cls) -> str:
        """The channel name Rasa records as ``input_channel``."""
        return "socketio"

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Output channel for messages Rasa sends outside a user turn."""
        if self.sio is None:
            return super().get_output_channel()
        return WebChatOutput(self.sio, self.bot_message_evt, self.namespace)

    def socket_origins(self) -> tuple[str, ...]:
        """The origins this channel accepts (see :attr:`allowed_origins`)."""
        if self.allowed_origins is not None:
            return self.allowed_origins
        return Settings.from_env().webchat_socket_origins

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's socket.io blueprint, built on an origin-checking server."""
        origins = self.socket_origins()
        sio = WebChatServer(async_mode="sanic", cors_allowed_origins=origin_checker(origins))
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace
        logger.info("web chat socket accepts browser origins: %s", ", ".join(origins))

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def connect(
            sid: str, environ: dict[str, Any], auth: Optional[dict[str, Any]]
        ) -> bool:
            if not self.jwt_key:
                return True
            token = auth.get("token") if isinstance(auth, dict) else None
            payload = (
                rasa.core.channels.channel.decode_bearer_token(
                    token, self.jwt_key, self.jwt_algorithm
                )
                if token
                else None
            )
            return bool(payload)

        async def session_request(sid: str, data: Any = None) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = requested if valid_session_id(requested) else new_session_id()
            if self.session_persistence:
                async with sio.session(sid, namespace=namespace) as socket_session:
                    previous = socket_session.get("session_id")
                    if previous and previous != session_id:
                        await _maybe_await(sio.leave_room(sid, previous, namespace=namespace))
                    await _maybe_await(sio.enter_room(sid, session_id, namespace=namespace))
                    socket_session["session_id"] = session_id
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            logger.debug("socket %s confirmed a web chat session", sid)

        async def handle_message(sid: str, data: Any = None) -> None:
            if not isinstance(data, dict):
                return
            text = data.get("message")
            if not isinstance(text, str) or not text.strip():
                return
            if self.session_persistence:
                session_id = data.get("session_id")
                if not valid_session_id(session_id):
                    logger.warning(
                        "ignored a web chat message without a valid session_id "
                        "(send session_request first)"
                    )
                    return
                sender_id = session_id
            else:
                sender_id = sid
            message = UserMessage(
                text[:MAX_MESSAGE_CHARS],
                WebChatOutput(sio, self.bot_message_evt, namespace),
                sender_id,
                input_channel=self.name(),
                metadata=clean_metadata(data.get(self.metadata_key)),
            )
            await on_new_message(message)

        sio.on("connect", connect, namespace=namespace)
        sio.on("session_request", session_request, namespace=namespace)
        sio.on(self.user_message_evt, handle_message, namespace=namespace)
        return socketio_webhook
