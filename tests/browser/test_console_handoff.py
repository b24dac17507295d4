"""The staff console in headless Chromium: readable transcripts, the urgent queue, the
takeover layout at 1440x1000 and revealing an original with a reason.

The console runs as its own process (``python -m bot.console``) on a database filled
by the ingest projector from realistic Rasa event streams (tests/bot/console/events.py);
Rasa's HTTP API is a stand-in in a background thread (take and reply need it). No
model, no Rasa. Screenshots go to test-results/.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from bot.console.ingest import Projector
from bot.console.models import Conversation
from bot.console.users import DEMO_USERS
from bot.settings import Settings
from tests.bot.console.convdata import open_db
from tests.bot.console.events import Script
from tests.bot.console.fake_rasa import TOKEN, FakeRasa, fake_rasa_in_thread
from tests.conftest import free_port

from .conftest import RESULTS_DIR, ROOT, serve

pytestmark = pytest.mark.browser

PASSWORDS = {name: password for name, _role, _shown, password in DEMO_USERS}
VIEWPORT = {"width": 1440, "height": 1000}


@dataclass(frozen=True)
class Console:
    url: str
    rasa: FakeRasa
    transfer: int  # waiting: a transfer interrupted after verification (a long chat)
    fraud: int  # waiting, urgent (fraud), asked later than the transfer
    ordinary: int  # waiting, asked for a person first of all


def seed(db_url: str, data_dir: Any) -> dict[str, int]:
    engine, factory = open_db(db_url)
    settings = Settings.from_env({"BANKBOT_DATA_DIR": str(data_dir)})
    now = time.time()
    transfer = Script(now - 900).session_start().greet_by_button()
    transfer.transfer_started_unverified().handoff_from_form(ticket="HO20261118001")
    ordinary = Script(now - 1200, channel="wechat").user("转人工", "human_handoff").handoff(
        "HO20261118000"
    )
    fraud = Script(now - 120, channel="wechat").session_start().fraud_report(ticket="HO20261118009")
    events = (
        ordinary.for_sender("wx-ordinary")
        + transfer.for_sender("web-transfer")
        + fraud.for_sender("wx-fraud")
    )
    with factory() as session, session.begin():
        Projector(settings).apply(session, events)
    with factory() as session:
        ids = dict(session.execute(select(Conversation.sender_id, Conversation.id)).all())
    engine.dispose()
    return {"transfer": ids["web-transfer"], "fraud": ids["wx-fraud"], "ordinary": ids["wx-ordinary"]}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data_dir = tmp_path_factory.mktemp("console-handoff")
    db_url = f"sqlite:///{data_dir / 'console.db'}"
    ids = seed(db_url, data_dir)
    port = free_port()
    with fake_rasa_in_thread() as (fake, rasa_url):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BANKBOT_HOST": "127.0.0.1",
            "BANKBOT_DATA_DIR": str(data_dir),
            "CONSOLE_DB_URL": db_url,
            "CONSOLE_EVENT_SOURCE": "none",
            "WEB_PORT": str(port),
            "RASA_URL": rasa_url,
            "RASA_TOKEN": TOKEN,
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
        }
        url = f"http://127.0.0.1:{port}"
        with serve([sys.executable, "-m", "bot.console"], f"{url}/health", env):
            yield Console(url=url, rasa=fake, **ids)


def login(page: Any, console: Console, username: str, next_path: str) -> None:
    page.goto(f"{console.url}/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def until(check: Any, what: str, timeout: float = 10.0) -> None:
    """Poll ``check()`` (the console's CSP forbids Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def shot(page: Any, name: str) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / name))


def test_internal_steps_hide_behind_one_toggle_and_buttons_read_as_titles(
    console: Console, new_page: Any
) -> None:
    page = new_page(viewport=VIEWPORT)
    login(page, console, "support", f"/console/conversations/{console.transfer}")
    messages = page.locator("#messages")
    details = page.locator("#messages > li.msg-detail")
    chat = page.locator("#messages > li.msg-user, #messages > li.msg-bot")
    assert details.count() > 40 and chat.count() == 14
    # Hidden by default: only the chat is on screen.
    assert not details.first.is_visible() and not details.last.is_visible()
    assert chat.first.is_visible()
    text = messages.inner_text()
    assert "/inform" not in text and "/greet" not in text and "requested_slot" not in text
    assert "李娜（尾号8888）" in text and "点击按钮" in text and "意图：转账" in text
    shot(page, "console-transcript-chat-only.png")

    toggle = page.locator("#toggle-internal")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert details.first.is_visible() and details.last.is_visible()
    assert toggle.get_attribute("aria-pressed") == "true" and "隐藏内部步骤" in toggle.inner_text()
    assert "internal=1" in page.url  # a reload keeps them shown
    shown = messages.inner_text()
    assert "开始表单：身份验证" in shown and "收款人" in shown and "登记转人工" in shown
    assert "action_human_handoff" not in shown and "verify_form" not in shown  # labels only
    assert "bank-session-token-secret" not in shown and "13800138000" not in page.content()
    shot(page, "console-transcript-internal.png")
    page.reload()
    assert details.first.is_visible()
    page.locator("#toggle-internal").click()
    assert not details.first.is_visible()


def test_urgent_handoffs_lead_the_queue_and_are_badged_everywhere(
    console: Console, new_page: Any
) -> None:
    page = new_page(viewport=VIEWPORT)
    login(page, console, "support", "/console/queue")
    rows = page.locator("#queue-waiting tbody tr")
    order = [int(rows.nth(i).get_attribute("data-conversation-id")) for i in range(rows.count())]
    # Urgent first although it asked last; then the longest wait.
    assert order == [console.fraud, console.ordinary, console.transfer]
    first = rows.first
    assert first.locator(".badge-urgent").inner_text() == "紧急"
    assert "疑似诈骗受害" in first.inner_text() and "HO20261118009" in first.inner_text()
    transfer_row = page.locator(f'#queue-waiting tr[data-conversation-id="{console.transfer}"]')
    assert "转账" in transfer_row.inner_text() and "HO20261118001" in transfer_row.inner_text()
    assert transfer_row.locator(".badge-urgent").count() == 0
    assert "fraud" not in page.locator("#queue-waiting").inner_text()
    shot(page, "console-queue-urgent.png")

    page.goto(f"{console.url}/console/conversations")
    row = page.locator(f'tr[data-conversation-id="{console.fraud}"]')
    assert "紧急 · 疑似诈骗受害" in row.inner_text()
    assert "报告被骗或转错账" in row.inner_text()  # the last intent, in Chinese
    assert page.locator(f'tr[data-conversation-id="{console.transfer}"] .badge-urgent').count() == 0

    page.goto(f"{console.url}/console/conversations/{console.fraud}")
    assert page.locator("h1 .badge-urgent").inner_text() == "紧急 · 疑似诈骗受害"
    summary = page.locator("#takeover-summary")
    assert "疑似诈骗受害" in summary.inner_text() and "HO20261118009" in summary.inner_text()


def test_after_taking_over_the_reply_box_is_in_view_at_1440x1000(
    console: Console, new_page: Any
) -> None:
    page = new_page(viewport=VIEWPORT)
    login(page, console, "support", "/console/queue")
    row = page.locator(f'#queue-waiting tr[data-conversation-id="{console.transfer}"]')
    row.get_by_role("button", name="接入").click()
    page.wait_for_url(f"**/console/conversations/{console.transfer}")
    reply = page.locator("#takeover-text")
    reply.wait_for()
    assert page.evaluate("window.scrollY") == 0
    for selector in ("#takeover-text", "#takeover-send", "#takeover-hand-back"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], (selector, box)
    # The summary of what the customer was doing is in view too.
    summary = page.locator("#takeover-summary")
    assert "转账" in summary.inner_text() and "HO20261118001" in summary.inner_text()
    shot(page, "console-takeover-1440x1000.png")

    # Reading the long transcript does not move the reply box out of view.
    page.mouse.move(300, 600)  # over the transcript
    page.mouse.wheel(0, 2500)
    until(lambda: page.evaluate("window.scrollY") > 0, "the page to scroll")
    box = reply.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box
    reply.fill("您好，我是人工客服，转账金额确定是多少？")
    page.click("#takeover-send")
    until(lambda: reply.input_value() == "", "the reply to be sent")
    sender = "web-transfer"
    assert console.rasa.sent(sender)[-1]["text"] == "您好，我是人工客服，转账金额确定是多少？"


def test_revealing_an_original_asks_for_a_reason(console: Console, new_page: Any) -> None:
    page = new_page(viewport=VIEWPORT)
    login(page, console, "admin", f"/console/conversations/{console.transfer}")
    phone_message = page.locator("#messages > li.msg-user", has_text="138****8000").first
    assert "13800138000" not in page.content()
    phone_message.locator("summary", has_text="显示原文").click()
    form = phone_message.locator("form.reveal-form")
    reason = form.locator("input[name=reason]")
    assert reason.is_visible() and reason.get_attribute("required") is not None
    # A blank reason is refused (the browser's check, then the page's: a space passes
    # "required" but is no reason).
    form.get_by_role("button", name="确认显示原文").click()
    assert page.evaluate("document.querySelector('form.reveal-form input[name=reason]:invalid') !== null")
    reason.fill(" ")
    form.get_by_role("button", name="确认显示原文").click()
    error = form.locator(".reveal-error")
    error.wait_for()
    assert "请填写查看原文的原因" in error.inner_text()
    assert "13800138000" not in phone_message.inner_text()
    # The server refuses too (the JSON API), whatever a page sends.
    csrf = page.locator("input[name=_csrf]").first.get_attribute("value")
    mid = phone_message.get_attribute("data-message-id")
    refused = page.request.post(
        f"{console.url}/api/conversations/{console.transfer}/messages/{mid}/reveal",
        headers={"X-CSRF-Token": csrf},
        data={"reason": ""},
    )
    assert refused.status == 400 and refused.json()["code"] == "reason_required"

    form.locator("select[name=reason_category]").select_option("customer_request")
    reason.fill("客户来电核实预留手机号")
    form.get_by_role("button", name="确认显示原文").click()
    page.locator(f'.msg-text.revealed[data-message-id="{mid}"]').wait_for()
    assert "13800138000" in phone_message.inner_text()
    shot(page, "console-reveal-with-reason.png")

    page.goto(f"{console.url}/console/admin/audit?action=reveal")
    entries = page.locator("tr[data-action=reveal]")
    assert entries.count() == 1
    assert "原因：客户来电核实预留手机号" in entries.first.inner_text()
    assert "客户本人要求核实" in entries.first.inner_text()


def test_without_javascript_the_reveal_form_comes_back_with_the_error(
    console: Console, new_page: Any
) -> None:
    page = new_page(viewport=VIEWPORT, java_script_enabled=False)
    login(page, console, "admin", f"/console/conversations/{console.transfer}")
    message = page.locator("#messages > li.msg-user", has_text="138****8000").first
    mid = message.get_attribute("data-message-id")
    message.locator("summary", has_text="显示原文").click()
    form = message.locator("form.reveal-form")
    form.locator("input[name=reason]").fill("查")  # one character: too short
    form.get_by_role("button", name="确认显示原文").click()
    page.wait_for_load_state()
    assert "请填写查看原文的原因" in page.locator("#reveal-error").inner_text()
    again = page.locator(f'form.reveal-form[data-message-id="{mid}"]')
    assert again.is_visible()  # the form is open again, with the error
    assert "请填写查看原文的原因" in again.locator(".reveal-error").inner_text()
    assert "13800138000" not in page.content()
    again.locator("input[name=reason]").fill("合规抽查")
    again.get_by_role("button", name="确认显示原文").click()
    page.wait_for_load_state()
    assert "13800138000" in page.locator(f'.msg-text[data-message-id="{mid}"]').inner_text()
