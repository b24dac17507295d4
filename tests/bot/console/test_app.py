"""The web app on the web port: chat page, bundle, static files, health."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.console.app import WEBCHAT_JS, content_security_policy, create_app, webchat_config
from bot.settings import Settings

SOCKET_URL = "http://127.0.0.1:5105"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"RASA_URL": SOCKET_URL, "WEB_PORT": "0", "BANKBOT_DATA_DIR": str(tmp_path)}
    )


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> Any:
    return await aiohttp_client(create_app(settings))


def page_config(html: str) -> dict[str, Any]:
    """The widget options the page hands to webchat-init.js."""
    match = re.search(
        r'<script type="application/json" id="webchat-config">(.*?)</script>', html, re.S
    )
    assert match, "page has no #webchat-config block"
    return json.loads(match.group(1))


async def test_chat_page_is_chinese_and_points_at_the_rasa_socket(client: Any) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert '<html lang="zh-CN">' in html
    assert "<title>沪银智能助手" in html
    assert "请勿在对话中发送" in html
    assert "理财非存款，产品有风险，投资须谨慎" in html
    assert 'src="/static/webchat.js?v=' in html
    assert 'src="/static/js/webchat-init.js"' in html
    assert 'href="/static/css/webchat.css"' in html
    assert "cdn" not in html.lower()
    config = page_config(html)
    assert config["socketUrl"] == SOCKET_URL
    assert config["socketPath"] == "/socket.io/"
    assert config["initPayload"] == "/greet"
    assert config["customData"] == {"language": "zh"}
    assert config["embedded"] is True
    assert config["params"] == {"storage": "local"}
    assert config["title"] == "沪银智能助手"
    assert config["inputTextFieldHint"] == "请输入您的问题…"


async def test_chat_page_security_headers(client: Any) -> None:
    response = await client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert f"connect-src 'self' {SOCKET_URL} ws://127.0.0.1:5105" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_public_socket_url_overrides_rasa_url() -> None:
    settings = Settings.from_env(
        {"RASA_URL": "http://10.0.0.5:5005", "WEBCHAT_SOCKET_URL": "https://chat.example.cn"}
    )
    assert webchat_config(settings)["socketUrl"] == "https://chat.example.cn"
    assert "connect-src 'self' https://chat.example.cn wss://chat.example.cn" in (
        content_security_policy(settings.webchat_socket_url)
    )
    default = Settings.from_env({"RASA_URL": "http://10.0.0.5:5005"})
    assert webchat_config(default)["socketUrl"] == "http://10.0.0.5:5005"


async def test_config_is_escaped_inside_the_script_block(
    aiohttp_client: Any, settings: Settings
) -> None:
    hostile = Settings.from_env({"WEBCHAT_SOCKET_URL": "http://x/</script><script>alert(1)//"})
    client = await aiohttp_client(create_app(hostile))
    html = await (await client.get("/")).text()
    assert "</script><script>alert(1)" not in html
    assert page_config(html)["socketUrl"] == "http://x/</script><script>alert(1)//"


async def test_webchat_bundle_is_served_locally(client: Any) -> None:
    # `make` runs `npm ci` first; without node_modules the page cannot work at all.
    assert WEBCHAT_JS.is_file(), "node_modules/rasa-webchat missing: run `npm ci`"
    response = await client.get("/static/webchat.js")
    assert response.status == 200
    assert "javascript" in response.headers["Content-Type"]
    body = await response.read()
    assert len(body) == WEBCHAT_JS.stat().st_size
    assert b"session_request" in body


async def test_missing_bundle_is_a_clear_503(aiohttp_client: Any, settings: Settings) -> None:
    app = create_app(settings, webchat_js_path=Path("/nonexistent/index.js"))
    client = await aiohttp_client(app)
    response = await client.get("/static/webchat.js")
    assert response.status == 503
    assert "npm ci" in await response.text()
    health = await (await client.get("/health")).json()
    assert health["webchat_bundle"] is False


async def test_static_files(client: Any) -> None:
    css = await client.get("/static/css/webchat.css")
    assert css.status == 200
    assert css.content_type == "text/css"
    js = await client.get("/static/js/webchat-init.js")
    assert js.status == 200
    assert "javascript" in js.content_type
    assert "window.WebChat.default" in await js.text()
    assert (await client.get("/static/../app.py")).status in (403, 404)


async def test_health(client: Any) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "service": "console",
        "webchat_bundle": True,
    }


def test_app_keeps_settings(settings: Settings) -> None:
    from bot.console.app import SETTINGS_KEY

    app = create_app(settings)
    assert isinstance(app, web.Application)
    assert app[SETTINGS_KEY] is settings
