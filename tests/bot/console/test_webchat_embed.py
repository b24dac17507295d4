"""The web app's embed routes: /embed.js, /embed/frame, CORS for the chat's assets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.console.app import EmbedOptions, create_app
from bot.settings import Settings

SOCKET_URL = "http://127.0.0.1:5105"


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"RASA_URL": SOCKET_URL, "WEB_PORT": "8080", "BANKBOT_DATA_DIR": str(tmp_path), **env}
    )


@pytest.fixture
async def sandbox(aiohttp_client: Any, tmp_path: Path) -> Any:
    return await aiohttp_client(create_app(settings_for(tmp_path)))


@pytest.fixture
async def restricted(aiohttp_client: Any, tmp_path: Path) -> Any:
    settings = settings_for(
        tmp_path, BANKBOT_PROFILE="production", WEBCHAT_ALLOWED_ORIGINS="https://shop.example.cn"
    )
    return await aiohttp_client(create_app(settings))


def block(html: str, element_id: str) -> Any:
    match = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S
    )
    assert match, f"no #{element_id}"
    return json.loads(match.group(1))


async def test_embed_js_is_served_to_any_origin_in_the_sandbox(sandbox: Any) -> None:
    response = await sandbox.get("/embed.js", headers={"Origin": "http://localhost:8000"})
    assert response.status == 200
    assert "javascript" in response.headers["Content-Type"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "max-age=300" in response.headers["Cache-Control"]
    body = await response.text()
    assert "embed/frame" in body and "attachShadow" in body


async def test_embed_assets_answer_only_allowed_origins(restricted: Any) -> None:
    for path in ("/embed.js", "/static/webchat.js", "/static/css/webchat.css"):
        allowed = await restricted.get(path, headers={"Origin": "https://shop.example.cn"})
        assert allowed.status == 200, path
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example.cn"
        assert "Origin" in allowed.headers.getall("Vary")
        other = await restricted.get(path, headers={"Origin": "https://evil.example.com"})
        assert "Access-Control-Allow-Origin" not in other.headers
        assert "Origin" in other.headers.getall("Vary")
    missing = await restricted.get(
        "/static/nothing.js", headers={"Origin": "https://shop.example.cn"}
    )
    assert missing.status == 404


async def test_frame_defaults_are_chinese_in_the_brand_colour(sandbox: Any) -> None:
    response = await sandbox.get("/embed/frame")
    assert response.status == 200
    html = await response.text()
    assert '<html lang="zh-CN">' in html
    config = block(html, "webchat-config")
    assert config["title"] == "沪银智能助手"
    assert config["inputTextFieldHint"] == "请输入您的问题…"
    assert config["mainColor"] == "#9e1b32"
    assert config["socketUrl"] == SOCKET_URL
    assert config["customData"] == {"language": "zh"}
    assert config["params"] == {"storage": "local"}
    ui = block(html, "webchat-ui")
    assert ui["parentOrigin"] == "" and ui["close"] == "关闭在线客服"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors" not in csp  # sandbox: any site may embed it
    assert f"connect-src 'self' {SOCKET_URL} ws://127.0.0.1:5105" in csp
    assert response.headers["Cache-Control"] == "no-store"


async def test_frame_options_in_english(sandbox: Any) -> None:
    query = {
        "lang": "en",
        "title": "Chat",
        "color": "#0A7F5A",
        "parent": "https://Shop.example.cn:443",
    }
    html = await (await sandbox.get("/embed/frame", params=query)).text()
    assert '<html lang="en">' in html
    config = block(html, "webchat-config")
    assert config["title"] == "Chat"
    assert config["inputTextFieldHint"] == "Type your question…"
    assert config["mainColor"] == config["userBackgroundColor"] == "#0A7F5A"
    assert config["customData"] == {"language": "en"}
    ui = block(html, "webchat-ui")
    assert ui["parentOrigin"] == "https://shop.example.cn"
    assert ui["color"] == "#0A7F5A"
    assert ui["status"]["failed"].startswith("The chat cannot connect")


async def test_frame_options_cannot_inject(sandbox: Any) -> None:
    query = {
        "title": '</script><script>alert(1)</script><b onmouseover="x">' + "长" * 100,
        "color": "red;background:url(javascript:alert(1))",
        "parent": "javascript:alert(1)",
        "lang": "<x>",
    }
    html = await (await sandbox.get("/embed/frame", params=query)).text()
    assert "<script>alert(1)" not in html and "<b onmouseover" not in html
    config = block(html, "webchat-config")
    assert config["title"].startswith("</script><script>alert(1)")
    assert len(config["title"]) == 40
    assert config["mainColor"] == "#9e1b32"
    assert block(html, "webchat-ui")["parentOrigin"] == ""
    assert '<html lang="zh-CN">' in html


async def test_only_allowed_sites_may_frame_the_chat(restricted: Any) -> None:
    frame = await restricted.get("/embed/frame")
    csp = frame.headers["Content-Security-Policy"]
    assert (
        "frame-ancestors 'self' http://127.0.0.1:8080 http://localhost:8080 https://shop.example.cn"
        in csp
    )
    page = await restricted.get("/")
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, EmbedOptions()),
        ({"lang": "en-US"}, EmbedOptions(language="en")),
        ({"lang": "fr"}, EmbedOptions()),
        ({"color": "#abc"}, EmbedOptions(color="#abc")),
        ({"color": "#abcd"}, EmbedOptions()),
        ({"title": " 标题\x07 "}, EmbedOptions(title="标题")),
        ({"parent": "*"}, EmbedOptions(parent_origin="*")),
        (
            {"parent": "http://localhost:8000/page"},
            EmbedOptions(parent_origin="http://localhost:8000"),
        ),
    ],
)
def test_embed_options(query: dict[str, str], expected: EmbedOptions) -> None:
    assert EmbedOptions.from_query(query) == expected
