"""A small asyncio client of the WeChat Official Account API (aiohttp).

wechatpy's client is synchronous (``requests``); calling it inside Sanic would
block the event loop, so this client covers the three calls the channel needs:

* ``GET  /cgi-bin/token``                 (access_token, valid 7200 s)
* ``POST /cgi-bin/message/custom/send``   (客服消息: text and msgmenu)
* ``POST /cgi-bin/menu/create``           (the custom menu)

The base URL is configurable (``WECHAT_API_BASE``) so tests use a local fake.
Only one refresh runs at a time (an ``asyncio.Lock``; with a shared store the
token and a short refresh lock live there too, so several Rasa instances do not
invalidate each other's tokens). Error codes become exceptions; a token error
(40001/40014/42001) refreshes the token once and retries the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .dedupe import Store

logger = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}
# Refresh this long before WeChat's own expiry.
TOKEN_MARGIN_SECONDS = 300


class WeChatAPIError(Exception):
    """WeChat answered with a non-zero errcode (or not at all: ``errcode`` None)."""

    def __init__(self, errcode: int | None, errmsg: str = "") -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class APIUnavailable(WeChatAPIError):
    """Network error, timeout or a non-JSON answer."""


class Busy(WeChatAPIError):
    """-1: system busy."""


class TokenInvalid(WeChatAPIError):
    """40001 / 40014 / 42001: the access_token is invalid or expired."""


class ContentTooLong(WeChatAPIError):
    """45002: content size out of limit."""


class RateLimited(WeChatAPIError):
    """45009 (daily quota) / 45011 (per-minute quota)."""


class OutOfWindow(WeChatAPIError):
    """45015: the 48 h window passed or the user unsubscribed; do not retry."""


class ResponseCountExceeded(WeChatAPIError):
    """45047: out of response count limit; stop until the user writes again."""


class NotAllowed(WeChatAPIError):
    """48001 (api unauthorized) / 40200 (e.g. msgmenu on a test account)."""


ERROR_CLASSES: dict[int, type[WeChatAPIError]] = {
    -1: Busy,
    40001: TokenInvalid,
    40014: TokenInvalid,
    42001: TokenInvalid,
    45002: ContentTooLong,
    45009: RateLimited,
    45011: RateLimited,
    45015: OutOfWindow,
    45047: ResponseCountExceeded,
    48001: NotAllowed,
    40200: NotAllowed,
}


def error_for(errcode: int, errmsg: str = "") -> WeChatAPIError:
    return ERROR_CLASSES.get(errcode, WeChatAPIError)(errcode, errmsg)


class WeChatAPI:
    """Access-token handling and the calls the channel makes."""

    def __init__(
        self,
        appid: str,
        secret: str,
        base_url: str = "https://api.weixin.qq.com",
        *,
        timeout: float = 5.0,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.appid = appid
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.store = store
        self.clock = clock
        self._session = session
        self._own_session = session is None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock: asyncio.Lock | None = None
        self.refreshes = 0  # how many times a token was fetched (tests, metrics)

    # -- plumbing -----------------------------------------------------------

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:  # created lazily, inside the serving loop
            self._lock = asyncio.Lock()
        return self._lock

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _request(
        self, method: str, path: str, params: dict[str, str], payload: Any = None
    ) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        data = None
        headers = {}
        if payload is not None:
            # ensure_ascii=False: WeChat shows \uXXXX escapes literally in some APIs.
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            async with self._get_session().request(
                method, url, params=params, data=data, headers=headers
            ) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise APIUnavailable(None, f"HTTP {resp.status} from {path}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise APIUnavailable(None, f"{exc.__class__.__name__} calling {path}") from exc
        try:
            result = json.loads(text)
        except ValueError as exc:
            raise APIUnavailable(None, f"non-JSON answer from {path}") from exc
        if not isinstance(result, dict):
            raise APIUnavailable(None, f"unexpected answer from {path}")
        return result

    # -- access token -------------------------------------------------------

    async def access_token(self) -> str:
        """A valid access_token, fetched when missing or about to expire."""
        if self._token and self.clock() < self._expires_at:
            return self._token
        return await self.refresh_token(stale=self._token)

    def _adopt(self, token: str, expires_at: float) -> str:
        self._token = token
        self._expires_at = expires_at
        return token

    async def _shared_token(self, stale: str | None) -> str | None:
        if self.store is None:
            return None
        raw = await self.store.get("token")
        if not raw:
            return None
        try:
            data = json.loads(raw)
            token, expires_at = str(data["token"]), float(data["expires_at"])
        except (ValueError, KeyError, TypeError):
            return None
        if token != stale and self.clock() < expires_at:
            return self._adopt(token, expires_at)
        return None

    def _token_request(self) -> tuple[str, dict[str, str]]:
        return "/cgi-bin/token", {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self.secret,
        }

    async def refresh_token(self, stale: str | None = None) -> str:
        """Fetch a new token unless another caller already replaced ``stale``.

        One refresher at a time: concurrent callers wait for the lock and then
        reuse the token the first one fetched.
        """
        async with self._get_lock():
            if self._token and self._token != stale and self.clock() < self._expires_at:
                return self._token
            shared = await self._shared_token(stale)
            if shared:
                return shared
            locked = False
            if self.store is not None:
                locked = await self.store.add("token:lock", "1", max(self.timeout * 2, 5))
                if not locked:  # another instance is fetching: wait for its token
                    deadline = time.monotonic() + max(self.timeout * 2, 5)
                    while time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                        shared = await self._shared_token(stale)
                        if shared:
                            return shared
            try:
                data = await self._request("GET", *self._token_request())
                if data.get("errcode"):
                    raise error_for(int(data["errcode"]), str(data.get("errmsg", "")))
                token = data.get("access_token")
                if not token:
                    raise APIUnavailable(None, "token answer without access_token")
                expires_in = float(data.get("expires_in", 7200))
                expires_at = self.clock() + max(60.0, expires_in - TOKEN_MARGIN_SECONDS)
                self.refreshes += 1
                if self.store is not None:
                    await self.store.set(
                        "token",
                        json.dumps({"token": token, "expires_at": expires_at}),
                        max(60.0, expires_at - self.clock()),
                    )
                logger.info("fetched a new WeChat access_token")
                return self._adopt(str(token), expires_at)
            finally:
                if locked and self.store is not None:
                    await self.store.delete("token:lock")

    # -- calls --------------------------------------------------------------

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` to ``path`` with the access_token; raise on errcode != 0.

        A token error refreshes the token and retries once; -1 (busy) is
        retried once after a short pause.
        """
        for attempt in range(2):
            token = await self.access_token()
            data = await self._request("POST", path, {"access_token": token}, payload)
            errcode = int(data.get("errcode") or 0)
            if errcode == 0:
                return data
            if attempt == 0 and errcode in TOKEN_ERRORS:
                logger.info("WeChat rejected the access_token (%s); refreshing", errcode)
                await self.refresh_token(stale=token)
                continue
            if attempt == 0 and errcode == -1:
                await asyncio.sleep(0.3)
                continue
            raise error_for(errcode, str(data.get("errmsg", "")))
        raise WeChatAPIError(None, "unreachable")  # pragma: no cover

    async def send_custom(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One customer-service message (``touser``, ``msgtype``, ...)."""
        return await self.call("/cgi-bin/message/custom/send", payload)

    async def send_text(self, openid: str, content: str) -> dict[str, Any]:
        return await self.send_custom(
            {"touser": openid, "msgtype": "text", "text": {"content": content}}
        )

    async def send_msgmenu(
        self, openid: str, head: str, items: list[dict[str, str]], tail: str = ""
    ) -> dict[str, Any]:
        return await self.send_custom(
            {
                "touser": openid,
                "msgtype": "msgmenu",
                "msgmenu": {"head_content": head, "list": items, "tail_content": tail},
            }
        )

    async def create_menu(self, menu: dict[str, Any]) -> dict[str, Any]:
        return await self.call("/cgi-bin/menu/create", menu)
