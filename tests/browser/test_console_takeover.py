"""Live takeover in headless Chromium against the full stack.

Two browser contexts: a customer on the web chat page and a support person on the
staff console. The customer asks for a person; the support person logs in, takes
the conversation from the waiting queue, replies (the reply appears in the
customer's chat), sees the customer's next message in the panel while the bot stays
silent, and hands the conversation back. Screenshots go to ``test-results/``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BOT = ".rw-from-response .rw-message"
INPUT = "textarea.rw-new-message"
STAFF_NAME = "小王"
REPLY = "您好，我是人工客服，请问您的银行卡是什么时候发现不见的？"


def bot_texts(page: Any) -> list[str]:
    return page.locator(BOT).all_inner_texts()


def settled_count(page: Any, quiet_ms: int = 2000) -> int:
    """Number of bot messages once none has arrived for ``quiet_ms``."""
    count, quiet = -1, 0
    while quiet < quiet_ms:
        current = page.locator(BOT).count()
        quiet = quiet + 250 if current == count else 0
        count = current
        page.wait_for_timeout(250)
    return count


def wait_bot_text(page: Any, needle: str, skip: int) -> None:
    """Until a bot message after the first ``skip`` contains ``needle``."""
    page.wait_for_function(
        """([selector, skip, needle]) => Array.from(document.querySelectorAll(selector))
            .slice(skip).some((node) => node.innerText.includes(needle))""",
        arg=[BOT, skip, needle],
    )


def say(page: Any, text: str) -> None:
    page.fill(INPUT, text)
    page.press(INPUT, "Enter")
    page.locator(".rw-from-client", has_text=text).first.wait_for()


def console_conversation(stack: Any, sender_id: str, timeout: float = 30.0) -> int:
    """The console's id of the conversation, once it is waiting for a person."""
    path = stack.settings.data_dir / "console.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
                row = db.execute(
                    "SELECT id FROM conversations WHERE sender_id = ? AND status = 'waiting'",
                    (sender_id,),
                ).fetchone()
            if row:
                return int(row[0])
        time.sleep(0.25)
    raise AssertionError("the conversation never reached the waiting queue")


def log_in(page: Any, web: str, next_path: str, account: tuple[str, str] = ("support", "support-demo-2026")) -> None:
    """Sign in on the console's login form and land on ``next_path``."""
    page.goto(f"{web}/login?next={next_path}")
    page.fill("#login-username", account[0])
    page.fill("#login-password", account[1])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**{next_path}")


def test_support_takes_over_replies_and_hands_back(
    running_stack: Any, new_page: Any, results_dir: Path
) -> None:
    web = running_stack.web_url.rstrip("/")

    customer = new_page()
    customer.set_default_timeout(30_000)
    customer.goto(f"{web}/")
    customer.wait_for_selector("#webchat-status[data-state=connected]", state="attached")
    customer.locator(BOT).first.wait_for()
    before = settled_count(customer)
    say(customer, "转人工")
    wait_bot_text(customer, "客服", before)
    settled_count(customer)
    session_id = json.loads(customer.evaluate("() => localStorage.getItem('chat_session')"))[
        "session_id"
    ]
    cid = console_conversation(running_stack, session_id)

    staff = new_page()
    log_in(staff, web, "/console/queue")
    row = staff.locator(f'#queue-waiting tr[data-conversation-id="{cid}"]')
    row.wait_for()
    # The row says why (the reason column, not just the intent or the message "转人工").
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[1] == "网页", cells
    assert cells[2].splitlines()[0] == "客户要求转人工", cells
    assert cells[4].startswith("转人工"), cells  # the latest intent, in Chinese
    staff.screenshot(path=str(results_dir / "console-queue.png"), full_page=True)

    before = settled_count(customer, 500)
    row.get_by_role("button", name="接入").click()
    staff.wait_for_url(f"**/console/conversations/{cid}")
    staff.locator("#takeover-text").wait_for()
    wait_bot_text(customer, STAFF_NAME, before)

    before = settled_count(customer, 500)
    staff.fill("#takeover-text", REPLY)
    staff.click("#takeover-send")
    wait_bot_text(customer, REPLY, before)
    assert staff.locator("#takeover-text").input_value() == ""  # sent without a reload
    staff.locator("#takeover-live .takeover-msg-staff", has_text=REPLY).wait_for()

    # The customer writes; the person sees it, the bot says nothing.
    before = settled_count(customer, 500)
    say(customer, "昨天下午，尾号1234的储蓄卡")
    staff.locator("#takeover-live .takeover-msg-user", has_text="尾号1234").wait_for()
    assert settled_count(customer, 3000) == before
    staff.screenshot(path=str(results_dir / "console-takeover.png"), full_page=True)
    customer.screenshot(path=str(results_dir / "webchat-takeover.png"))

    staff.click("#takeover-hand-back")
    staff.wait_for_url(f"**/console/conversations/{cid}")
    wait_bot_text(customer, "智能助手", before)
    assert staff.locator("#takeover-text").count() == 0  # no reply box once handed back
    staff.locator('form[action$="/take"]').wait_for()  # the bot has it: a person may take it again
    settled_count(customer)
    customer.screenshot(path=str(results_dir / "webchat-hand-back.png"))
