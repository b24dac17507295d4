"""The WeChat budget in the takeover panel, in headless Chromium against the full stack.

A WeChat customer (signed callbacks to the real Rasa server's WeChat channel; the
customer-service API is the session's fake) asks for a person; the support person
takes the conversation and replies from the panel: the count goes down after each
reply without a reload, a reply beyond it is refused with the reason, and the
count comes back when the customer writes again.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.bot.channels.wechat.simulator import WeChatServer

from .test_console_takeover import console_conversation, log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

LINE = "#takeover-wechat"
BLOCKED = "客户在微信里回复之前，微信不允许再发送消息"


def customer_writes(server: WeChatServer, openid: str, text: str) -> None:
    """One signed, encrypted callback, as WeChat sends it (synchronous: Playwright's
    sync API owns this thread's event loop)."""
    params, body = server.sign_request(server.text(openid, text), "safe")
    request = urllib.request.Request(
        f"{server.url}?{urllib.parse.urlencode(params)}",
        data=body,
        headers={"Content-Type": "text/xml"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def wait_line(staff: Any, needle: str) -> None:
    staff.wait_for_function(
        "([selector, needle]) => document.querySelector(selector).textContent.includes(needle)",
        arg=[LINE, needle],
    )


def test_the_panel_counts_down_and_refuses_past_the_budget(
    running_stack: Any, fake_wechat_api: Any, new_page: Any, results_dir: Path
) -> None:
    web = running_stack.web_url.rstrip("/")
    server = WeChatServer(running_stack.wechat_url)
    openid = f"oBrow{uuid.uuid4().hex[:23]}"
    customer_writes(server, openid, "转人工")
    cid = console_conversation(running_stack, openid)

    staff = new_page()
    log_in(staff, web, f"/console/conversations/{cid}")
    staff.click("#takeover-take")
    staff.locator("#takeover-text").wait_for()
    left = 5 - len(fake_wechat_api.sends_to(openid))  # the joined message took one
    assert staff.locator(LINE).inner_text() == f"微信限制：客户回复前还可发送 {left} 条。"

    for n in range(left):
        staff.fill("#takeover-text", f"第{n + 1}条")
        staff.click("#takeover-send")
        if n + 1 < left:
            wait_line(staff, f"还可发送 {left - n - 1} 条")
    wait_line(staff, BLOCKED)
    assert "takeover-wechat-blocked" in (staff.locator(LINE).get_attribute("class") or "")
    assert fake_wechat_api.texts_to(openid)[-1] == f"第{left}条"

    sends = len(fake_wechat_api.sends_to(openid))
    staff.fill("#takeover-text", "这条发不出去")
    staff.click("#takeover-send")
    staff.locator("#takeover-error", has_text=BLOCKED).wait_for()
    assert staff.locator("#takeover-text").input_value() == "这条发不出去"  # kept, not sent
    assert len(fake_wechat_api.sends_to(openid)) == sends
    staff.screenshot(path=str(results_dir / "console-wechat-quota.png"), full_page=True)

    customer_writes(server, openid, "好的")  # the live feed shows it and the count comes back
    staff.locator("#takeover-live .takeover-msg-user", has_text="好的").wait_for()
    wait_line(staff, "还可发送 5 条")

    staff.click("#takeover-hand-back")
    staff.wait_for_url(f"**/console/conversations/{cid}")
