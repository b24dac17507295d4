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


def test_page_of_an_origin_the_socket_refuses_says_it_cannot_connect(
    new_page: Any, start_webchat_stack: Any, results_dir: Path
) -> None:
    """The socket accepts the web app's own origin (WEB_PUBLIC_URL) and
    WEBCHAT_ALLOWED_ORIGINS only; here the page's origin is neither."""
    with start_webchat_stack(
        WEB_PUBLIC_URL="https://bank.example.cn", WEBCHAT_ALLOWED_ORIGINS="https://shop.example.cn"
    ) as stack:
        page = new_page()
        page.goto(stack.web_url + "/")
        status = page.locator("#webchat-status")
        assert "正在连接" in status.inner_text()
        page.wait_for_selector("#webchat-status[data-state=failed]", timeout=20_000)
        assert "暂时无法连接在线客服" in status.inner_text()
        page.screenshot(path=str(results_dir / "webchat-offline.png"))
        assert received(stack) == []


# -- line breaks, lists, literal text ------------------------------------------

LAST_BOT_MESSAGE = BOT + " .rw-message"


def last_bot_message(page: Any, has_text: str) -> Any:
    """The bot message containing ``has_text`` once it is on screen."""
    message = page.locator(LAST_BOT_MESSAGE, has_text=has_text).last
    message.wait_for()
    return message


def line_boxes(message: Any) -> list[float]:
    """Distinct top coordinates of the rendered lines of text in ``message``."""
    return message.evaluate(
        """(node) => {
            const range = document.createRange();
            range.selectNodeContents(node.querySelector(".rw-markdown") || node);
            const tops = Array.from(range.getClientRects())
                .filter((rect) => rect.width > 0 && rect.height > 0)
                .map((rect) => Math.round(rect.top));
            return Array.from(new Set(tops)).sort((a, b) => a - b);
        }"""
    )


def test_a_ten_line_statement_is_shown_on_eleven_lines(
    new_page: Any, echo_stack: Any, results_dir: Path
) -> None:
    page = new_page()
    open_chat(page, echo_stack)
    send(page, "对账单")
    statement = last_bot_message(page, "最近 10 笔交易")
    lines = statement.inner_text().splitlines()
    assert lines[0] == "最近 10 笔交易："
    assert lines[1:] == [f"11-{day:02d} 美团外卖 -¥{day * 3}.50" for day in range(18, 8, -1)]
    assert statement.locator("br").count() == 10
    # Measured on screen: eleven line boxes, one above the other.
    assert len(line_boxes(statement)) == 11
    line_height = statement.evaluate(
        "(node) => parseFloat(getComputedStyle(node.querySelector('p')).lineHeight)"
    )
    assert statement.bounding_box()["height"] >= 11 * line_height
    page.screenshot(path=str(results_dir / "webchat-statement.png"))


def test_menu_and_bullets_are_real_lists(new_page: Any, echo_stack: Any, results_dir: Path) -> None:
    page = new_page()
    open_chat(page, echo_stack)
    send(page, "帮助")
    menu = last_bot_message(page, "我可以帮您办理")
    items = menu.locator("ol > li")
    assert items.all_inner_texts() == [
        "账户：查余额、转账",
        "银行卡：挂失、冻结",
        "网点：排队、取号",
    ]
    assert (
        items.first.evaluate("(li) => getComputedStyle(li.parentNode).listStyleType") == "decimal"
    )
    assert len(line_boxes(menu)) >= 5  # the line above, three items, the line below
    assert page.locator(".rw-reply").filter(has_text="转人工").count() == 1

    send(page, "清单")
    bullets = last_bot_message(page, "开户请带")
    assert bullets.locator("ul > li").all_inner_texts() == ["本人身份证", "银行卡", "手机"]
    assert (
        bullets.locator("li").first.evaluate(
            "(li) => getComputedStyle(li).display + ' ' + getComputedStyle(li.parentNode).listStyleType"
        )
        == "list-item disc"
    )
    page.screenshot(path=str(results_dir / "webchat-lists.png"))


def test_html_and_markdown_typed_by_a_customer_stay_text(new_page: Any, echo_stack: Any) -> None:
    page = new_page()
    open_chat(page, echo_stack)
    hostile = (
        '<img src=x onerror="window.pwned=1"> [点我领奖](javascript:window.pwned=2) '
        "**粗体** https://evil.example/login"
    )
    send(page, hostile)
    echoed = last_bot_message(page, "点我领奖")
    assert echoed.inner_text() == f"回声：{hostile}"
    assert echoed.locator("img, a, strong, em, script").count() == 0
    assert page.evaluate("() => window.pwned === undefined")
    # What the customer typed keeps its line breaks in their own bubble too.
    send(page, "第一行\n第二行")
    mine = page.locator(USER, has_text="第二行").last
    mine.wait_for()
    assert mine.inner_text().splitlines() == ["第一行", "第二行"]
