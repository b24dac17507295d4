"""The one-line embed (``<script src=".../embed.js">``) on a page of another origin.

The host pages are served by a tiny HTTP server on another port and opened as
``http://localhost:<port>/`` while the web app is ``http://127.0.0.1:<port>``: a
different origin and a different site, as on a real customer's site. The chat
runs against the echo socket.io server (no Rasa); tests/browser/test_webchat.py
does the same against the real stack.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import free_port

pytestmark = pytest.mark.browser

GREETING = "您好，我是沪银智能助手"
LAUNCHER = "bankbot-webchat button.launcher"
PANEL = "bankbot-webchat .panel"
FRAME = "bankbot-webchat iframe"
BOT = ".rw-from-response"
INPUT = "textarea.rw-new-message"
# Chromium's switch for blocking third-party cookies and storage (on by default in
# Debian's Chromium 150; Chrome, Firefox and Safari differ): both ways, explicitly.
ALLOW_THIRD_PARTY_STORAGE = "--disable-features=TrackingProtection3pcd"
BLOCK_THIRD_PARTY_STORAGE = "--enable-features=TrackingProtection3pcd"


@contextmanager
def host_site(pages: dict[str, str]) -> Iterator[str]:
    """Serve ``pages`` (path -> HTML) on a free port; yield ``http://localhost:<port>``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def one_line(web_url: str, attributes: str = "") -> str:
    """The embed snippet as docs/embed.md gives it."""
    return f'<script src="{web_url}/embed.js"{attributes}></script>'


def host_page(body: str, head: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{head}</head><body>{body}</body></html>"
    )


def received(stack: Any) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{stack.rasa_url}/received", timeout=5) as reply:
        return json.loads(reply.read())


def chat_frame(page: Any) -> Any:
    return page.frame_locator(FRAME)


def send(frame: Any, text: str) -> None:
    frame.locator(INPUT).fill(text)
    frame.locator(INPUT).press("Enter")


@pytest.fixture(scope="module")
def echo_site(echo_stack: Any) -> Iterator[str]:
    """A site of another origin whose page holds nothing but the one line."""
    pages = {
        "/": host_page(one_line(echo_stack.web_url)),
        "/other": host_page(one_line(echo_stack.web_url)),
    }
    with host_site(pages) as url:
        yield url


@contextmanager
def browser_with(chromium: Any, *args: str) -> Iterator[Any]:
    """Another Chromium of the same Playwright, with extra switches."""
    browser = chromium.browser_type.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *args]
    )
    try:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 800})
        context.set_default_timeout(20_000)
        yield context
    finally:
        browser.close()


def test_one_line_on_another_origin_opens_a_working_chat(
    new_page: Any, echo_stack: Any, echo_site: str, results_dir: Path
) -> None:
    page = new_page()
    page.goto(echo_site + "/")
    assert page.evaluate("() => location.origin") != echo_stack.web_url
    launcher = page.locator(LAUNCHER)
    assert launcher.get_attribute("aria-expanded") == "false"
    assert launcher.get_attribute("aria-label") == "打开在线客服"
    assert page.locator(FRAME).count() == 0  # nothing loads before the chat is opened
    page.screenshot(path=str(results_dir / "webchat-embed-closed.png"))

    launcher.click()
    frame = chat_frame(page)
    frame.locator(BOT, has_text=GREETING).first.wait_for()
    assert launcher.get_attribute("aria-expanded") == "true"
    send(frame, "你好")
    frame.locator(BOT, has_text="回声：你好").wait_for()
    send(frame, "帮助")
    frame.locator(BOT + " ol > li").nth(2).wait_for()
    page.screenshot(path=str(results_dir / "webchat-embed-open.png"))

    mine = [m for m in received(echo_stack) if m["text"] == "你好"]
    assert mine and mine[-1]["input_channel"] == "socketio"
    assert mine[-1]["metadata"] == {"language": "zh"}

    launcher.click()
    assert page.locator(PANEL).is_hidden()
    assert launcher.get_attribute("aria-expanded") == "false"


def test_data_attributes_set_title_colour_position_language_and_open(
    new_page: Any, echo_stack: Any, results_dir: Path
) -> None:
    attributes = (
        ' data-title="沪银在线" data-color="#0a7f5a" data-position="left"'
        ' data-language="en" data-open="true"'
    )
    with host_site({"/": host_page(one_line(echo_stack.web_url, attributes))}) as site:
        page = new_page()
        page.goto(site + "/")
        frame = chat_frame(page)
        frame.locator(BOT, has_text=GREETING).first.wait_for()  # open without a click
        launcher = page.locator(LAUNCHER)
        box = launcher.bounding_box()
        assert box["x"] < 100 and box["y"] > 800 - 100  # bottom left
        assert page.locator(PANEL).bounding_box()["x"] < 100
        assert launcher.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(10, 127, 90)"
        assert launcher.get_attribute("aria-label") == "Close chat · 沪银在线"
        assert frame.locator("h1").inner_text() == "沪银在线"
        assert frame.locator("html").get_attribute("lang") == "en"
        assert frame.locator(INPUT).get_attribute("placeholder") == "Type your question…"
        header = frame.locator(".frame-header")
        assert header.evaluate("(h) => getComputedStyle(h).backgroundColor") == "rgb(10, 127, 90)"
        send(frame, "hello")
        client = frame.locator(".rw-client", has_text="hello")
        assert client.evaluate("(c) => getComputedStyle(c).backgroundColor") == "rgb(10, 127, 90)"
        frame.locator(BOT, has_text="回声：hello").wait_for()
        assert [m["metadata"] for m in received(echo_stack) if m["text"] == "hello"] == [
            {"language": "en"}
        ]
        page.screenshot(path=str(results_dir / "webchat-embed-options.png"))

        # The frame's close button (and Escape) close the panel in the host page.
        frame.locator("#frame-close").click()
        page.locator(PANEL).wait_for(state="hidden")
        assert launcher.get_attribute("aria-label") == "Open chat · 沪银在线"


def test_default_launcher_is_bottom_right_and_closed(new_page: Any, echo_site: str) -> None:
    page = new_page()
    page.goto(echo_site + "/")
    box = page.locator(LAUNCHER).bounding_box()
    assert box["x"] > 1200 - 100 and box["y"] > 800 - 100
    assert box["width"] == 60 and box["height"] == 60
    assert page.locator(PANEL).is_hidden()


def test_on_a_phone_the_chat_fills_the_screen(new_page: Any, echo_site: str) -> None:
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(echo_site + "/")
    page.locator(LAUNCHER).tap()
    frame = chat_frame(page)
    frame.locator(BOT, has_text=GREETING).first.wait_for()
    assert page.locator(PANEL).bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    assert page.locator(LAUNCHER).is_hidden()  # the frame's own × closes it
    frame.locator("#frame-close").tap()
    page.locator(PANEL).wait_for(state="hidden")
    assert page.locator(LAUNCHER).is_visible()


HOSTILE_CSS = """<style>
  * { font-family: serif !important; color: lime !important; letter-spacing: 3px !important; }
  div, button, iframe { display: none !important; }
  bankbot-webchat { display: none; }
  ul, ol, p { margin: 40px !important; list-style: square !important; }
  .rw-conversation-container, .rw-message, .launcher, .panel { background: yellow !important; }
</style>"""
HOST_CONTENT = "<h1>商城首页</h1><p class='rw-message'>促销</p><ul><li>商品</li></ul>"


def test_styles_cross_neither_way(new_page: Any, echo_stack: Any, results_dir: Path) -> None:
    body = HOST_CONTENT + one_line(echo_stack.web_url)
    with host_site({"/": host_page(body, head=HOSTILE_CSS)}) as site:
        page = new_page()
        page.goto(site + "/")
        host_styles = """() => {
            const pick = (sel) => {
                const s = getComputedStyle(document.querySelector(sel));
                return [s.fontFamily, s.color, s.margin, s.listStyleType, s.backgroundColor,
                        s.fontSize, s.padding];
            };
            return {p: pick("p"), ul: pick("ul"), h1: pick("h1"), body: pick("body"),
                    sheets: document.styleSheets.length,
                    styles: document.querySelectorAll("style, link[rel=stylesheet]").length};
        }"""
        before = page.evaluate(host_styles)
        launcher = page.locator(LAUNCHER)
        assert launcher.is_visible()
        assert launcher.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(158, 27, 50)"
        launcher.click()
        frame = chat_frame(page)
        frame.locator(BOT, has_text=GREETING).first.wait_for()
        send(frame, "帮助")
        menu = frame.locator(BOT + " .rw-message", has_text="我可以帮您办理").last
        menu.wait_for()
        page.screenshot(path=str(results_dir / "webchat-embed-hostile-page.png"))

        # Nothing of the chat's styles reached the page.
        assert page.evaluate(host_styles) == before
        # Nothing of the page's styles reached the chat.
        assert page.locator(PANEL).evaluate("(p) => getComputedStyle(p).display") == "block"
        assert page.locator(PANEL).bounding_box()["width"] == 380
        style = menu.evaluate(
            """(m) => { const s = getComputedStyle(m); const ol = getComputedStyle(m.querySelector('ol'));
                 return [s.fontFamily, s.color, s.letterSpacing, ol.listStyleType]; }"""
        )
        assert style[0].startswith('"PingFang SC"')
        assert style[1] != "rgb(0, 255, 0)" and style[2] == "normal"
        assert style[3] == "decimal"


def test_session_is_kept_per_browser_across_pages(
    chromium: Any, echo_stack: Any, echo_site: str
) -> None:
    """Where the browser lets the frame keep storage (partitioned per site)."""
    with browser_with(chromium, ALLOW_THIRD_PARTY_STORAGE) as context:
        page = context.new_page()
        page.goto(echo_site + "/")
        page.locator(LAUNCHER).click()
        frame = chat_frame(page)
        frame.locator(BOT, has_text=GREETING).first.wait_for()
        assert frame.locator("html").get_attribute("data-storage") is None
        send(frame, "第一页说的话")
        frame.locator(BOT, has_text="回声：第一页说的话").wait_for()

        # Another page of the same site: the chat is still open, with its history,
        # in the same conversation.
        page.goto(echo_site + "/other")
        frame = chat_frame(page)
        frame.locator(BOT, has_text="回声：第一页说的话").wait_for()
        assert page.locator(LAUNCHER).get_attribute("aria-expanded") == "true"
        send(frame, "第二页说的话")
        frame.locator(BOT, has_text="回声：第二页说的话").wait_for()
        senders = {m["sender_id"] for m in received(echo_stack) if "页说的话" in m["text"]}
        assert len(senders) == 1

        # A new browser profile is a new customer.
        other = context.browser.new_context()
        try:
            stranger = other.new_page()
            stranger.goto(echo_site + "/")
            stranger.locator(LAUNCHER).click()
            chat_frame(stranger).locator(BOT, has_text=GREETING).first.wait_for()
            assert chat_frame(stranger).locator(BOT, has_text="页说的话").count() == 0
        finally:
            other.close()


def test_chat_works_where_third_party_storage_is_blocked(
    chromium: Any, echo_stack: Any, echo_site: str
) -> None:
    """Chrome's incognito windows, "block third-party cookies": the frame gets no
    storage, so the chat keeps its conversation in memory for this visit."""
    with browser_with(chromium, BLOCK_THIRD_PARTY_STORAGE) as context:
        page = context.new_page()
        page.goto(echo_site + "/")
        page.locator(LAUNCHER).click()
        frame = chat_frame(page)
        frame.locator(BOT, has_text=GREETING).first.wait_for()
        assert frame.locator("html").get_attribute("data-storage") == "memory"
        send(frame, "无痕窗口")
        frame.locator(BOT, has_text="回声：无痕窗口").wait_for()


def test_a_site_that_is_not_allowed_cannot_frame_the_chat(
    new_page: Any, start_webchat_stack: Any
) -> None:
    with start_webchat_stack(WEBCHAT_ALLOWED_ORIGINS="https://shop.example.cn") as stack:
        page_html = host_page(one_line(stack.web_url, ' data-open="true"'))
        with host_site({"/": page_html}) as site:
            page = new_page()
            blocked: list[str] = []
            page.on("console", lambda message: blocked.append(message.text))
            # Wait for Chromium's report of the refused frame (not a fixed 3 s).
            with page.expect_console_message(
                lambda message: "frame-ancestors" in message.text, timeout=15_000
            ):
                page.goto(site + "/")
            page.locator(FRAME).wait_for(state="attached")
        frames = [f for f in page.frames if f != page.main_frame]
        assert frames and all(f.locator(INPUT).count() == 0 for f in frames)
        assert any("frame-ancestors" in text for text in blocked), blocked
        assert received(stack) == []


DOCS = Path(__file__).resolve().parents[2] / "docs"
EMBED_JS = Path(__file__).resolve().parents[2] / "bot" / "console" / "static" / "js" / "embed.js"


def test_the_example_page_works_from_another_origin(new_page: Any, echo_stack: Any) -> None:
    example = (DOCS / "embed-example.html").read_text("utf-8")
    assert example.count("<script") == 1 and 'src="http://127.0.0.1:8080/embed.js"' in example
    with host_site(
        {"/embed-example.html": example.replace("http://127.0.0.1:8080", echo_stack.web_url)}
    ) as site:
        page = new_page()
        page.goto(site + "/embed-example.html")
        page.locator(LAUNCHER).click()
        frame = chat_frame(page)
        frame.locator(BOT, has_text=GREETING).first.wait_for()
        send(frame, "示例页面")
        frame.locator(BOT, has_text="回声：示例页面").wait_for()


def test_every_option_of_embed_js_is_documented() -> None:
    options = set(re.findall(r"\bdataset\.([a-z]+)\b", EMBED_JS.read_text("utf-8")))
    assert options == {"title", "color", "position", "language", "open"}
    doc = (DOCS / "embed.md").read_text("utf-8")
    chinese, english = doc.split("## English")
    for option in options:
        assert f"`data-{option}`" in chinese and f"`data-{option}`" in english, option
    for setting in ("WEBCHAT_ALLOWED_ORIGINS", "WEB_PUBLIC_URL"):
        assert setting in chinese and setting in english
    assert '<script src="https://<web app>/embed.js"></script>' in english
