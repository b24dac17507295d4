"""The staff console in headless Chromium: login, list, search, transcript, masking, reveal.

The console runs as its own process (``python -m bot.console``) on a database seeded
with conversations the way the ingest writes them; event ingestion is off because
no Rasa runs here. Screenshots go to test-results/.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.console.users import DEMO_USERS
from tests.bot.console.convdata import add_conversation, at, open_db
from tests.conftest import free_port

from .conftest import RESULTS_DIR, ROOT, serve

PASSWORDS = {name: password for name, _role, _shown, password in DEMO_USERS}
CARD = "6222020200112341234"


@dataclass(frozen=True)
class Console:
    url: str
    card_conversation: int


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data_dir = tmp_path_factory.mktemp("console")
    db_url = f"sqlite:///{data_dir / 'console.db'}"
    engine, factory = open_db(db_url)
    with factory() as session:
        add_conversation(
            session,
            last_at=at("2026-11-18", "10:05:00"),
            channel="wechat",
            intent="check_balance",
            confidence=0.97,
            customer_label="张* 138****8000",
            messages=[
                {"kind": "user", "text": "查下余额", "intent": "check_balance", "confidence": 0.97},
                ("bot", "您的储蓄卡（尾号1234）可用余额为 ¥52,380.15。"),
            ],
        )
        card = add_conversation(
            session,
            last_at=at("2026-11-18", "11:30:00"),
            channel="socketio",
            intent="report_card_lost",
            confidence=0.91,
            complaint=True,
            messages=[
                {"kind": "user", "text": f"我的卡 {CARD} 丢了，手机13800138000",
                 "intent": "report_card_lost", "confidence": 0.91},
                ("bot", "请确认要挂失尾号1234的储蓄卡吗？"),
                {"kind": "user", "text": "<script>alert(1)</script>", "intent": "nlu_fallback",
                 "confidence": 0.2},
            ],
        )
        session.commit()
        card_id = card.id
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BANKBOT_HOST": "127.0.0.1",
        "BANKBOT_DATA_DIR": str(data_dir),
        "CONSOLE_DB_URL": db_url,
        "CONSOLE_EVENT_SOURCE": "none",
        "WEB_PORT": str(port),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
    }
    url = f"http://127.0.0.1:{port}"
    with serve([sys.executable, "-m", "bot.console"], f"{url}/health", env):
        yield Console(url=url, card_conversation=card_id)


def login(page, console: Console, username: str, password: str | None = None) -> None:
    page.goto(f"{console.url}/console/conversations")
    assert "/login" in page.url  # anonymous staff are sent to the login page
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or PASSWORDS[username])
    page.click("button[type=submit]")


def shot(page, name: str) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / name))


def test_login_list_search_and_masked_transcript(console: Console, new_page) -> None:
    page = new_page(viewport={"width": 1280, "height": 860})
    login(page, console, "support", "wrong-password")
    assert "/login" in page.url
    assert "用户名或密码" in page.inner_text("body")
    shot(page, "console-login-error.png")

    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", PASSWORDS["support"])
    page.click("button[type=submit]")
    page.wait_for_url("**/console/conversations**")
    body = page.inner_text("body")
    assert "张* 138****8000" in body and "查询余额" in body  # intents in Chinese
    assert "check_balance" not in body
    assert "13800138000" not in body
    shot(page, "console-list.png")

    page.fill("input[name=q]", "余额")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**q=**")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1 and "查询余额" in rows.first.inner_text()

    page.goto(f"{console.url}/console/conversations/{console.card_conversation}")
    text = page.inner_text("body")
    assert CARD not in text and "13800138000" not in text
    assert "尾号1234" in text and "138****8000" in text
    # Customer HTML is shown as text, never run.
    assert "<script>alert(1)</script>" in text
    assert page.locator("script:text('alert(1)')").count() == 0
    assert page.locator("text=显示原文").count() == 0  # support may not reveal
    shot(page, "console-transcript-support.png")


def test_admin_reveals_one_message(console: Console, new_page) -> None:
    page = new_page(viewport={"width": 1280, "height": 860})
    login(page, console, "admin")
    page.wait_for_url("**/console/conversations**")
    page.goto(f"{console.url}/console/conversations/{console.card_conversation}")
    assert CARD not in page.inner_text("body")
    first = page.locator("#messages > li.msg-user").first
    first.locator("summary", has_text="显示原文").click()
    first.locator("select[name=reason_category]").select_option("complaint")
    first.locator("input[name=reason]").fill("客户投诉卡号被盗用，核实原文")
    first.get_by_role("button", name="确认显示原文").click()
    first.locator(".msg-text.revealed").wait_for()
    assert CARD in first.inner_text()
    message_id = first.locator(".msg-text").get_attribute("data-message-id")
    assert message_id and message_id.isdigit()
    shot(page, "console-transcript-reveal.png")
    page.goto(f"{console.url}/console/admin/audit")
    # The page always says 查看原文 (the action filter lists it): check the ROW this
    # reveal wrote, cell by cell: who, what, which message, and why.
    rows = page.locator("table.audit-table tbody tr[data-action=reveal]")
    assert rows.count() == 1, page.inner_text("table.audit-table")
    cells = [c.strip() for c in rows.first.locator("td").all_inner_texts()]
    assert len(cells) == 6, cells
    _at, actor, action, target, detail, ip = cells
    assert actor == "admin"
    assert action == "查看原文"
    assert target == f"message:{message_id}"
    assert detail == (
        f"会话 #{console.card_conversation}，类别：投诉处理，原因：客户投诉卡号被盗用，核实原文"
    ), detail
    assert ip == "127.0.0.1"
    assert CARD not in page.inner_text("body")  # the audit log never shows the original
