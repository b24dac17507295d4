"""A small typed async client of the Rasa server's HTTP API (``rasa run --enable-api``).

The console uses it to take conversations over and hand them back:

* ``pause`` / ``resume``: append Rasa's ``pause`` / ``resume`` events. While a
  conversation is paused Rasa still logs every user message (so the event broker,
  and the console, see them) but predicts no action: the bot is silent.
* ``say``: append a ``BotUttered`` with ``execute_side_effects=true`` and
  ``output_channel=latest``: Rasa stores it in the tracker and sends it through the
  output channel of the customer's latest input channel (web chat over socket.io,
  WeChat through the customer-service API).
* ``trigger_intent``: run the bot as if the customer had sent an intent (after a
  hand-back, to resume the interrupted task).
* ``tracker``: the conversation's current state and events.
* ``wechat_budget``: how many customer-service messages the WeChat channel may
  still send to a customer (its ``/webhooks/wechat/budget/<openid>`` endpoint).

Every call sends ``?token=`` when the API has one. Failures raise
:class:`RasaUnavailable` (network error, timeout, 5xx) or :class:`RasaRejected`
(Rasa refused the call: 4xx, e.g. a wrong token).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

OUTPUT_LATEST = "latest"


class RasaError(Exception):
    """A Rasa HTTP API call failed."""


class RasaUnavailable(RasaError):
    """Rasa did not answer (connection error, timeout) or answered with a 5xx."""


class RasaRejected(RasaError):
    """Rasa refused the call (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Rasa answered {status}: {message}")
        self.status = status


class RasaClient:
    """Calls to one Rasa server; one ``aiohttp`` session for the client's lifetime."""

    def __init__(
        self,
        base_url: str,
        token: str = "",
        *,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session = session
        self._own_session = session is None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        """Close the session if this client opened it."""
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Any = None,
        timeout: float | None = None,
    ) -> Any:
        query = dict(params or {})
        if self.token:
            query["token"] = self.token
        url = f"{self.base_url}{path}"
        # A shorter limit than the session's for this call only (None: the session's).
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self._http().request(
                method, url, params=query, json=payload, **extra
            ) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RasaUnavailable(f"{exc.__class__.__name__} calling Rasa {path}") from exc
        if status >= 500:
            raise RasaUnavailable(f"Rasa answered {status} to {path}: {text[:200]}")
        if status >= 400:
            raise RasaRejected(status, _error_message(text))
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise RasaUnavailable(f"non-JSON answer from Rasa {path}") from exc

    @staticmethod
    def _conversation(sender_id: str) -> str:
        # Sender ids are opaque (web chat hex ids, WeChat openids); keep them one segment.
        return f"/conversations/{quote(sender_id, safe='')}"

    # -- calls -------------------------------------------------------------

    async def tracker(self, sender_id: str) -> dict[str, Any]:
        """The conversation's tracker (``paused``, ``slots``, ``events``, ...)."""
        result = await self._call("GET", f"{self._conversation(sender_id)}/tracker")
        if not isinstance(result, dict):
            raise RasaUnavailable("unexpected tracker answer from Rasa")
        return result

    async def append_events(
        self,
        sender_id: str,
        events: list[dict[str, Any]],
        *,
        side_effects: bool = False,
    ) -> dict[str, Any]:
        """Append ``events``; with ``side_effects`` bot messages go to the customer."""
        params = {}
        if side_effects:
            params = {"execute_side_effects": "true", "output_channel": OUTPUT_LATEST}
        result = await self._call(
            "POST",
            f"{self._conversation(sender_id)}/tracker/events",
            params=params,
            payload=events,
        )
        return result if isinstance(result, dict) else {}

    async def pause(self, sender_id: str) -> dict[str, Any]:
        """Silence the bot for this conversation (user messages are still logged)."""
        return await self.append_events(sender_id, [{"event": "pause"}])

    async def resume(self, sender_id: str) -> dict[str, Any]:
        """Let the bot answer this conversation again."""
        return await self.append_events(sender_id, [{"event": "resume"}])

    async def say(
        self, sender_id: str, text: str, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Store a bot-side message and deliver it on the customer's latest channel."""
        event = {"event": "bot", "text": text, "metadata": dict(metadata or {})}
        return await self.append_events(sender_id, [event], side_effects=True)

    async def parse(self, text: str) -> dict[str, Any]:
        """The NLU's reading of ``text`` (intent, ranking, entities); no conversation."""
        result = await self._call("POST", "/model/parse", payload={"text": text})
        if not isinstance(result, dict):
            raise RasaUnavailable("unexpected parse answer from Rasa")
        return result

    async def trigger_intent(
        self, sender_id: str, intent: str, entities: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Run the bot on ``intent`` as if the customer had sent it."""
        result = await self._call(
            "POST",
            f"{self._conversation(sender_id)}/trigger_intent",
            params={"output_channel": OUTPUT_LATEST},
            payload={"name": intent, "entities": entities or []},
        )
        return result if isinstance(result, dict) else {}

    async def wechat_budget(
        self, openid: str, *, channel: str = "wechat", timeout: float | None = None
    ) -> dict[str, Any]:
        """The WeChat channel's customer-service budget for ``openid``: ``left``,
        ``window_open``, ``window_closes_at``, ``last_user_message_at``."""
        result = await self._call(
            "GET", f"/webhooks/{channel}/budget/{quote(openid, safe='')}", timeout=timeout
        )
        if not isinstance(result, dict) or not isinstance(result.get("left"), int):
            raise RasaUnavailable("unexpected budget answer from the WeChat channel")
        return result


def _error_message(text: str) -> str:
    """Rasa's error JSON (``{"message": ...}``) or the start of the body."""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:200]
    return text[:200]
