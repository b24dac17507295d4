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

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncServer

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


async def _maybe_await(result: Any) -> None:
    """Await ``result`` if it is awaitable (python-socketio >= 5.10 room calls)."""
    if inspect.isawaitable(result):
        await result


class WebChatOutput(SocketIOOutput):
    """Socket.io output that honours the namespace and emits custom JSON as data."""

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
    """Rasa's socket.io input channel with working session persistence."""

    @classmethod
    def name(cls) -> str:
        """The channel name Rasa records as ``input_channel``."""
        return "socketio"

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Output channel for messages Rasa sends outside a user turn."""
        if self.sio is None:
            return super().get_output_channel()
        return WebChatOutput(self.sio, self.bot_message_evt, self.namespace)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's blueprint with the session and message handlers replaced."""
        socketio_webhook = super().blueprint(on_new_message)
        sio = self.sio
        if sio is None:  # pragma: no cover - Rasa's blueprint() always sets it
            raise RuntimeError("SocketIOInput.blueprint() did not create the socket.io server")
        namespace = self.namespace

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

        # ``on`` keeps one handler per (namespace, event): these replace Rasa's.
        sio.on("session_request", session_request, namespace=namespace)
        sio.on(self.user_message_evt, handle_message, namespace=namespace)
        return socketio_webhook
