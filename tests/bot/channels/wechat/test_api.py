"""The asyncio API client against the fake WeChat API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.channels.wechat.api import (
    APIUnavailable,
    OutOfWindow,
    ResponseCountExceeded,
    WeChatAPI,
    WeChatAPIError,
)
from bot.channels.wechat.dedupe import MemoryStore
from bot.channels.wechat.menu import MENU, install, validate_menu
from bot.channels.wechat.wecom import WeComAPI

from .conftest import wechat_config
from .fake_api import FakeWeChatAPI
from .simulator import TEST_APPID, TEST_SECRET


@pytest.fixture
async def api(fake_api: FakeWeChatAPI) -> WeChatAPI:
    client = WeChatAPI(TEST_APPID, TEST_SECRET, fake_api.url, timeout=2)
    yield client
    await client.close()


async def test_sends_text_and_msgmenu(api: WeChatAPI, fake_api: FakeWeChatAPI) -> None:
    await api.send_text("o1", "您好 ]]> 😀")
    await api.send_msgmenu("o1", "请选择", [{"id": "1", "content": "查余额"}])
    assert [s["msgtype"] for s in fake_api.sends] == ["text", "msgmenu"]
    assert fake_api.sends[0]["text"]["content"] == "您好 ]]> 😀"
    assert fake_api.token_requests == 1


async def test_one_refresher_at_a_time(api: WeChatAPI, fake_api: FakeWeChatAPI) -> None:
    fake_api.token_latency = 0.2
    await asyncio.gather(*(api.send_text("o1", f"m{i}") for i in range(10)))
    assert fake_api.token_requests == 1
    assert len(fake_api.sends) == 10


@pytest.mark.parametrize("how", ["expired", "invalid"])
async def test_token_errors_refresh_once_and_retry(
    api: WeChatAPI, fake_api: FakeWeChatAPI, how: str
) -> None:
    await api.send_text("o1", "first")
    if how == "expired":
        fake_api.expire_token()  # 42001
    else:
        fake_api.valid_tokens.clear()  # 40001
    fake_api.token_latency = 0.1
    await asyncio.gather(*(api.send_text("o1", f"again{i}") for i in range(5)))
    assert fake_api.token_requests == 2  # concurrent failures share one refresh
    assert len(fake_api.sends) == 6


async def test_quota_and_window_errors(api: WeChatAPI, fake_api: FakeWeChatAPI) -> None:
    fake_api.quota = 5
    for i in range(5):
        await api.send_text("o1", f"m{i}")
    with pytest.raises(ResponseCountExceeded) as info:
        await api.send_text("o1", "m5")
    assert info.value.errcode == 45047
    fake_api.errors = [45015]
    with pytest.raises(OutOfWindow):
        await api.send_text("o2", "late")
    fake_api.errors = [-1]  # busy: retried once
    await api.send_text("o3", "busy then ok")
    fake_api.errors = [48002]
    with pytest.raises(WeChatAPIError) as other:
        await api.send_text("o3", "x")
    assert other.value.errcode == 48002


async def test_latency_beyond_the_timeout_is_unavailable(fake_api: FakeWeChatAPI) -> None:
    client = WeChatAPI(TEST_APPID, TEST_SECRET, fake_api.url, timeout=1.0)
    await client.access_token()
    fake_api.latency = 3.0
    with pytest.raises(APIUnavailable):
        await client.send_text("o1", "slow")
    await client.close()


async def test_bad_secret_and_unreachable_api(fake_api: FakeWeChatAPI) -> None:
    bad = WeChatAPI(TEST_APPID, "wrong", fake_api.url, timeout=1)
    with pytest.raises(WeChatAPIError) as info:
        await bad.send_text("o1", "x")
    assert info.value.errcode == 40125
    await bad.close()
    gone = WeChatAPI(TEST_APPID, TEST_SECRET, "http://127.0.0.1:9", timeout=1)
    with pytest.raises(APIUnavailable):
        await gone.send_text("o1", "x")
    await gone.close()


async def test_token_shared_through_the_store(fake_api: FakeWeChatAPI) -> None:
    store = MemoryStore()
    first = WeChatAPI(TEST_APPID, TEST_SECRET, fake_api.url, store=store)
    second = WeChatAPI(TEST_APPID, TEST_SECRET, fake_api.url, store=store)
    await first.send_text("o1", "a")
    await second.send_text("o1", "b")
    assert fake_api.token_requests == 1  # the second instance reused the shared token
    fake_api.expire_token()
    await second.send_text("o1", "c")
    await first.send_text("o1", "d")  # picks up second's new token after its own 42001
    assert fake_api.token_requests == 2
    await first.close()
    await second.close()


async def test_menu_install(fake_api: FakeWeChatAPI) -> None:
    validate_menu(MENU)
    assert [b["name"] for b in MENU["button"]] == ["账户", "网点排队", "理财"]
    await install(wechat_config(fake_api.url))
    assert fake_api.menus == [MENU]
    keys = [s["key"] for b in MENU["button"] for s in b["sub_button"]]
    assert "/check_balance" in keys and all(k.startswith("/") for k in keys)


def test_menu_limits() -> None:
    with pytest.raises(ValueError):
        validate_menu({"button": [{"name": "a", "sub_button": []}] * 4})
    with pytest.raises(ValueError):
        validate_menu({"button": [{"name": "a", "sub_button": [{"name": "x", "key": "/a"}] * 6}]})


async def test_wecom_api_uses_gettoken_and_message_send(fake_api: FakeWeChatAPI) -> None:
    from aiohttp import web

    calls: list[dict] = []

    async def gettoken(request: web.Request) -> web.Response:
        calls.append(dict(request.query))
        return web.json_response({"errcode": 0, "access_token": "wecom-token", "expires_in": 7200})

    async def send(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    app = web.Application()
    app.router.add_get("/cgi-bin/gettoken", gettoken)
    app.router.add_post("/cgi-bin/message/send", send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = WeComAPI("ww-corp", "corp-secret", 1000002, f"http://127.0.0.1:{port}")
    await client.send_text("ChenJiaShun", "你好")
    await client.close()
    await runner.cleanup()
    assert calls[0] == {"corpid": "ww-corp", "corpsecret": "corp-secret"}
    assert calls[1] == {
        "touser": "ChenJiaShun",
        "agentid": 1000002,
        "msgtype": "text",
        "text": {"content": "你好"},
    }


def test_menu_cli_installs_through_the_configured_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.channels.wechat.menu import main

    fake = FakeWeChatAPI()
    fake.start_in_thread()
    try:
        creds = tmp_path / "credentials.yml"
        creds.write_text("bot.channels.wechat.WeChatInput:\n  appid: ''\n", encoding="utf-8")
        monkeypatch.setenv("WECHAT_APPID", TEST_APPID)
        monkeypatch.setenv("WECHAT_SECRET", TEST_SECRET)
        monkeypatch.setenv("WECHAT_API_BASE", fake.url)
        assert main(["--credentials", str(creds)]) == 0
        assert fake.menus == [MENU]
        monkeypatch.setenv("WECHAT_SECRET", "wrong")
        assert main(["--credentials", str(creds)]) == 1
    finally:
        fake.stop_thread()
