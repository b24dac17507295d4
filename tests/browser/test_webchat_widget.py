"""The web chat page in headless Chromium against the echo socket.io server (no Rasa).

The stack: ``echo_server.py`` (``bot.channels.socketio.WebChatInput`` registered
as ``rasa run`` does, CORS as ``rasa run --cors '*'``) on one port and
``python -m bot.console`` on another, so the socket connection is cross-origin
exactly as in production.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

GREETING = "您好，我是沪银智能助手"
BOT = ".rw-from-response"
USER = ".rw-from-client"
INPUT = "textarea.rw-new-message"


def received(stack: Any) -> list[dict[str, Any]]:
    """What the echo bot has been handed so far."""
    with urllib.request.urlopen(f"{stack.rasa_url}/received", timeout=5) as reply:
        return json.loads(reply.read())


def stored_session_id(page: Any) -> str:
    """The session id rasa-webchat keeps in localStorage."""
    raw = page.evaluate("() => window.localStorage.getItem('chat_session')")
    assert raw, "rasa-webchat stored no session"
    return json.loads(raw)["session_id"]


def open_chat(page: Any, stack: Any) -> None:
    """Load the page and wait for the greeting (sent via initPayload /greet)."""
    page.goto(stack.web_url + "/")
    page.locator(BOT, has_text=GREETING).first.wait_for()


def send(page: Any, text: str) -> None:
    """Type ``text`` into the widget and press Enter."""
    page.fill(INPUT, text)
    page.press(INPUT, "Enter")


def test_greeting_buttons_render_and_send_their_payload(
    new_page: Any, echo_stack: Any, results_dir: Path
) -> None:
    page = new_page()
    answered: list[str] = []
    blocked: list[tuple[str, str]] = []
    page.on("response", lambda response: answered.append(response.url))
    page.on("requestfailed", lambda request: blocked.append((request.url, request.failure or "")))
    open_chat(page, echo_stack)
    buttons = page.locator(".rw-reply")
    assert buttons.all_inner_texts() == ["查余额", "找网点"]
    page.screenshot(path=str(results_dir / "webchat-widget.png"))

    buttons.filter(has_text="找网点").click()
    page.locator(USER, has_text="找网点").wait_for()
    page.locator(BOT, has_text="回声：/find_branch").wait_for()

    session_id = stored_session_id(page)
    mine = [m for m in received(echo_stack) if m["sender_id"] == session_id]
    assert [m["text"] for m in mine] == ["/greet", "/find_branch"]
    assert all(m["metadata"] == {"language": "zh"} for m in mine)
    assert all(m["input_channel"] == "socketio" for m in mine)
    # Everything comes from our two servers. The bundle asks for Google Fonts;
    # the page's Content-Security-Policy stops that before it leaves the browser.
    assert [url for url in answered if not url.startswith(("http://127.0.0.1", "data:"))] == []
    assert {reason for url, reason in blocked if not url.startswith("http://127.0.0.1")} <= {"csp"}


def test_typed_message_and_history_survive_a_reload(new_page: Any, echo_stack: Any) -> None:
    page = new_page()
    open_chat(page, echo_stack)
    assert page.get_attribute(INPUT, "placeholder") == "请输入您的问题…"
    send(page, "我要转账")
    page.locator(BOT, has_text="回声：我要转账").wait_for()
    session_id = stored_session_id(page)

    page.reload()
    page.locator(BOT, has_text="回声：我要转账").wait_for()
    assert page.locator(USER, has_text="我要转账").count() == 1
    assert page.locator(BOT, has_text=GREETING).count() == 1
    assert stored_session_id(page) == session_id

    # The reconnected socket joined the same session: replies still arrive.
    send(page, "刷新之后")
    page.locator(BOT, has_text="回声：刷新之后").wait_for()
    texts = [m["text"] for m in received(echo_stack) if m["sender_id"] == session_id]
    assert texts == ["/greet", "我要转账", "刷新之后"]


def test_clear_history_starts_a_new_session(new_page: Any, echo_stack: Any) -> None:
    page = new_page()
    open_chat(page, echo_stack)
    send(page, "旧对话")
    page.locator(BOT, has_text="回声：旧对话").wait_for()
    old_session = stored_session_id(page)

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#clear-history")
    page.wait_for_load_state()
    open_chat_after_reload = page.locator(BOT, has_text=GREETING).first
    open_chat_after_reload.wait_for()
    assert page.locator(BOT, has_text="回声：旧对话").count() == 0
    assert stored_session_id(page) != old_session


def test_chinese_ui_on_a_phone(new_page: Any, echo_stack: Any, results_dir: Path) -> None:
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    open_chat(page, echo_stack)
    assert page.title().startswith("沪银智能助手")
    assert page.locator(INPUT).is_visible()
    assert page.locator("#webchat-status").is_hidden()
    visible_text = page.inner_text("body")
    assert re.search(r"[A-Za-z]{4,}", visible_text.replace("/find_branch", "")) is None, (
        "customer-visible English text"
    )
    page.screenshot(path=str(results_dir / "webchat-widget-phone.png"), full_page=True)


def test_without_cors_the_page_says_it_cannot_connect(
    new_page: Any, start_webchat_stack: Any, results_dir: Path
) -> None:
    """Documents why ``rasa run`` needs ``--cors``: the socket is cross-origin."""
    with start_webchat_stack(cors="") as stack:
        page = new_page()
        page.goto(stack.web_url + "/")
        status = page.locator("#webchat-status")
        assert "正在连接" in status.inner_text()
        page.wait_for_selector("#webchat-status[data-state=failed]", timeout=20_000)
        assert "暂时无法连接在线客服" in status.inner_text()
        page.screenshot(path=str(results_dir / "webchat-offline.png"))
        assert received(stack) == []
