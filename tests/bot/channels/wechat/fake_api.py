"""A fake WeChat API on 127.0.0.1 (R23): records customer-service sends, scripts failures.

Routes (as the real ``api.weixin.qq.com``):

* ``GET  /cgi-bin/token?grant_type=client_credential&appid=&secret=``
* ``POST /cgi-bin/message/custom/send?access_token=``
* ``POST /cgi-bin/menu/create?access_token=``

Scripting (attributes, or ``POST /_fake/script`` from another process):

* ``errors``: errcodes returned by the next sends, in order (e.g. ``[45047]``);
* ``expire_token()``: the current token starts answering 42001;
* ``latency``: seconds each send waits before answering;
* ``quota``: sends allowed per openid before 45047 (``None``: unlimited);
* ``msgmenu_allowed``: False answers 40200 to msgmenu (a test account).

``GET /_fake/state`` returns what was recorded. Run it in the test's loop
(``await fake.start()``) or in a background thread (``fake.start_in_thread()``)
when the code under test runs in other processes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import Counter
from typing import Any

from aiohttp import web

from .simulator import TEST_APPID, TEST_SECRET


class FakeWeChatAPI:
    def __init__(self, appid: str = TEST_APPID, secret: str = TEST_SECRET) -> None:
        self.appid = appid
        self.secret = secret
        self.url = ""
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.reset()

    # -- state --------------------------------------------------------------

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.valid_tokens: set[str] = set()
            self.expired_tokens: set[str] = set()
            self.token_requests = 0
            self.sends: list[dict[str, Any]] = []
            self.attempts: list[dict[str, Any]] = []
            self.menus: list[dict[str, Any]] = []
            self.errors: list[int] = []
            self.latency = 0.0
            self.token_latency = 0.0
            self.quota: int | None = None
            self.msgmenu_allowed = True
            self.per_user: Counter[str] = Counter()

    def expire_token(self) -> None:
        with self._lock:
            self.expired_tokens |= self.valid_tokens
            self.valid_tokens.clear()

    def sends_to(self, openid: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.sends if s.get("touser") == openid]

    def texts_to(self, openid: str) -> list[str]:
        """The visible text of each send to ``openid`` (msgmenu: head + items)."""
        texts = []
        for send in self.sends_to(openid):
            if send.get("msgtype") == "text":
                texts.append(send["text"]["content"])
            elif send.get("msgtype") == "msgmenu":
                menu = send["msgmenu"]
                items = "\n".join(i["content"] for i in menu.get("list", []))
                texts.append(f"{menu.get('head_content', '')}\n{items}")
        return texts

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "sends": list(self.sends),
                "attempts": list(self.attempts),
                "menus": list(self.menus),
                "token_requests": self.token_requests,
            }

    # -- handlers -----------------------------------------------------------

    def _token_error(self, token: str | None) -> dict[str, Any] | None:
        if token in self.valid_tokens:
            return None
        if token in self.expired_tokens:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}

    async def token(self, request: web.Request) -> web.Response:
        if self.token_latency:
            await asyncio.sleep(self.token_latency)
        q = request.query
        if q.get("grant_type") != "client_credential":
            return web.json_response({"errcode": 40002, "errmsg": "invalid grant_type"})
        if q.get("appid") != self.appid or q.get("secret") != self.secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        with self._lock:
            self.token_requests += 1
            token = f"token-{next(self._counter)}-{int(time.time())}"
            self.valid_tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def custom_send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            payload = json.loads(raw.decode("utf-8"))
        except ValueError:
            return web.json_response({"errcode": 47001, "errmsg": "data format error"})
        token = request.query.get("access_token")
        with self._lock:
            self.attempts.append({"payload": payload, "token": token, "at": time.time()})
        if self.latency:
            await asyncio.sleep(self.latency)
        with self._lock:
            error = self._token_error(token)
            if error:
                return web.json_response(error)
            if self.errors:
                code = self.errors.pop(0)
                return web.json_response({"errcode": code, "errmsg": f"scripted error {code}"})
            touser = str(payload.get("touser", ""))
            if payload.get("msgtype") == "msgmenu" and not self.msgmenu_allowed:
                return web.json_response({"errcode": 40200, "errmsg": "invalid account type"})
            content = payload.get("text", {}).get("content", "")
            if payload.get("msgtype") == "text" and len(content.encode("utf-8")) > 2048:
                return web.json_response({"errcode": 45002, "errmsg": "content size out of limit"})
            if self.quota is not None and self.per_user[touser] >= self.quota:
                return web.json_response({"errcode": 45047, "errmsg": "out of response count limit"})
            self.per_user[touser] += 1
            self.sends.append({**payload, "_at": time.time()})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def menu_create(self, request: web.Request) -> web.Response:
        payload = json.loads((await request.read()).decode("utf-8"))
        with self._lock:
            error = self._token_error(request.query.get("access_token"))
            if error:
                return web.json_response(error)
            self.menus.append(payload)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def fake_state(self, _: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def fake_script(self, request: web.Request) -> web.Response:
        data = await request.json()
        with self._lock:
            if "errors" in data:
                self.errors = [int(c) for c in data["errors"]]
            if "latency" in data:
                self.latency = float(data["latency"])
            if "quota" in data:
                self.quota = data["quota"]
            if "msgmenu_allowed" in data:
                self.msgmenu_allowed = bool(data["msgmenu_allowed"])
        if data.get("expire_token"):
            self.expire_token()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
        app.router.add_post("/cgi-bin/menu/create", self.menu_create)
        app.router.add_get("/_fake/state", self.fake_state)
        app.router.add_post("/_fake/script", self.fake_script)
        return app

    # -- running ------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> str:
        """Serve from a daemon thread with its own loop (for synchronous fixtures)."""
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-wechat-api", daemon=True)
        self._thread.start()
        started.wait(10)
        if errors:
            raise errors[0]
        return self.url

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None
