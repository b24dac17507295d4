"""What the channel does with each kind of WeChat message or event.

A message becomes a :class:`Turn`: text (and metadata) for Rasa, a canned
reply without a Rasa turn, or silence (``success``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wechatpy import events, messages

from .config import WeChatConfig
from .dedupe import UserMemory
from .render import OptionMemory

MAX_TEXT_CHARS = 2000
# A Rasa payload a menu key may carry: /intent or /intent{"entity": "value"}.
PAYLOAD_RE = re.compile(r"^/[A-Za-z_][A-Za-z0-9_]{0,63}(\{.{0,200}\})?$")
SCENE_RE = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]{0,63})$")
LOCATION_TOPIC = "location"


@dataclass
class Turn:
    """The channel's decision for one message."""

    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reply: str | None = None  # canned text, no Rasa turn
    is_event: bool = False  # events grant a smaller customer-service quota

    @property
    def silent(self) -> bool:
        return self.text is None and self.reply is None


def message_key(msg: Any) -> str:
    """The dedupe key: MsgId for messages; sender + CreateTime + event for events
    (wechatpy gives events ``id == 0``), plus the EventKey, so that two menu taps
    within one second stay two (a retry repeats the EventKey too)."""
    account = msg.target or ""
    msg_id = getattr(msg, "id", 0) or 0
    if msg_id:
        return f"{account}:{msg_id}"
    event = getattr(msg, "event", "") or msg.type
    event_key = str(msg._data.get("EventKey") or "")[:128]
    return f"{account}:{msg.source}:{msg.time}:{event}:{event_key}"


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result else None  # NaN


def _location(lat: Any, lng: Any, label: Any, source: str, **extra: Any) -> dict[str, Any] | None:
    lat_f, lng_f = _float(lat), _float(lng)
    if lat_f is None or lng_f is None or not (-90 <= lat_f <= 90 and -180 <= lng_f <= 180):
        return None
    location: dict[str, Any] = {"lat": lat_f, "lng": lng_f, "label": str(label or "")[:200]}
    location["source"] = source
    location.update({k: v for k, v in extra.items() if v is not None})
    return location


def scene_payload(scene: Any) -> str | None:
    """A QR scene key as an initial intent: ``find_branch`` -> ``/find_branch``."""
    match = SCENE_RE.match(str(scene or "").strip())
    return f"/{match.group(1)}" if match else None


class Inbound:
    """Maps wechatpy messages and events to :class:`Turn` objects."""

    def __init__(self, config: WeChatConfig, memory: UserMemory, options: OptionMemory) -> None:
        self.config = config
        self.memory = memory
        self.options = options

    async def remember_location(self, user: str, location: dict[str, Any]) -> None:
        await self.memory.put(LOCATION_TOPIC, user, location, self.config.location_ttl_seconds)

    async def latest_location(self, user: str) -> dict[str, Any] | None:
        value = await self.memory.get(LOCATION_TOPIC, user)
        return value if isinstance(value, dict) else None

    def _meta(self, msg: Any, **extra: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"msg_type": msg.type}
        if getattr(msg, "id", 0):
            info["msg_id"] = str(msg.id)
        if getattr(msg, "event", None):
            info["event"] = msg.event
        info.update(extra)
        return {"wechat": info}

    async def _with_location(self, msg: Any, text: str, **extra: Any) -> Turn:
        metadata = self._meta(msg, **extra)
        location = await self.latest_location(msg.source)
        if location:
            metadata["location"] = location
        return Turn(text=text, metadata=metadata)

    async def turn(self, msg: Any) -> Turn:
        user = msg.source
        if isinstance(msg, messages.TextMessage):
            text = (msg.content or "").strip()[:MAX_TEXT_CHARS]
            menu_id = msg._data.get("bizmsgmenuid")  # a msgmenu tap (no wechatpy field)
            payload = await self.options.resolve(user, text, menu_id)
            if payload:
                return await self._with_location(msg, payload, option=text)
            if not text:
                return Turn()
            return await self._with_location(msg, text)
        if isinstance(msg, messages.VoiceMessage):
            recognition = (msg.recognition or "").strip().rstrip("。.")[:MAX_TEXT_CHARS]
            payload = await self.options.resolve(user, recognition)
            if payload:
                return await self._with_location(msg, payload, voice=True, option=recognition)
            if recognition:
                return await self._with_location(msg, recognition, voice=True)
            return Turn(reply=self.config.text("voice_unrecognised"))
        if not isinstance(msg, events.BaseEvent):
            await self.options.resolve(user, "")  # any other message uses the options up
        if isinstance(msg, messages.LocationMessage):
            location = _location(
                msg.location_x, msg.location_y, msg.label, "message", scale=_float(msg.scale)
            )
            if location is None:
                return Turn(reply=self.config.text("unsupported_media"))
            await self.remember_location(user, location)
            metadata = self._meta(msg)
            metadata["location"] = location
            return Turn(text=self.config.location_payload, metadata=metadata)
        if isinstance(msg, events.LocationSelectEvent):
            # The menu's location picker: WeChat also sends the chosen place as a
            # location message, which starts the turn; here it is only remembered.
            info = msg.location_info or {}
            location = _location(
                info.get("Location_X"), info.get("Location_Y"), info.get("Label"), "menu"
            )
            if location is not None:
                await self.remember_location(user, location)
            return Turn(is_event=True)
        if isinstance(
            msg,
            messages.ImageMessage
            | messages.LinkMessage
            | messages.VideoMessage
            | messages.ShortVideoMessage
            | messages.MiniProgramPageMessage,
        ):
            return Turn(reply=self.config.text("unsupported_media"))
        if isinstance(msg, events.SubscribeScanEvent):
            payload = scene_payload(msg.scene_id) or self.config.greet_payload
            turn = await self._with_location(msg, payload, scene=str(msg.scene_id or "")[:64])
            turn.is_event = True
            return turn
        if isinstance(msg, events.SubscribeEvent):
            turn = await self._with_location(msg, self.config.greet_payload)
            turn.is_event = True
            return turn
        if isinstance(msg, events.ScanEvent):
            payload = scene_payload(msg.scene_id)
            if not payload:
                return Turn(is_event=True)
            turn = await self._with_location(msg, payload, scene=str(msg.scene_id)[:64])
            turn.is_event = True
            return turn
        if isinstance(msg, events.UnsubscribeEvent):
            await self.memory.forget(LOCATION_TOPIC, user)
            return Turn(is_event=True)
        if isinstance(msg, events.ClickEvent):
            key = (msg.key or "").strip()
            if not PAYLOAD_RE.match(key):
                return Turn(is_event=True)
            turn = await self._with_location(msg, key, key=key)
            turn.is_event = True
            return turn
        if isinstance(msg, events.LocationEvent):
            location = _location(
                msg.latitude, msg.longitude, "", "report", precision=_float(msg.precision)
            )
            if location is not None:
                await self.remember_location(user, location)
            return Turn(is_event=True)
        # VIEW (a menu link was opened), template/mass-send reports and anything else.
        return Turn(is_event=getattr(msg, "event", None) is not None)
