"""Live takeover against the real console app (real SQLite, real login and CSRF).

Rasa is a small aiohttp stand-in that speaks the parts of Rasa's HTTP API the
console uses (tracker, tracker/events, trigger_intent; ``?token=`` checked) and
records every call; tests/integration/test_takeover.py does the same against a
real Rasa server.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.conversation import ActionSessionStart
from bot.console import takeover, users
from bot.console.app import create_app
from bot.console.keys import SESSIONS_KEY
from bot.console.models import AuditEntry, Conversation, Handoff, Message
from bot.console.takeover import DomainTexts, interrupted_task
from bot.settings import Settings
from tests.bot.console.events import CARD_BUTTONS, Script, transfer_then_handoff
from tests.bot.console.fake_rasa import TOKEN, FakeRasa

T = TypeVar("T")

CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
SUPPORT = ("support", "support-demo-2026")
ADMIN = ("admin", "admin-demo-2026")
TRAINER = ("trainer", "trainer-demo-2026")
SUPPORT2 = ("support2", "support2-pass-2026")


@pytest.fixture
async def rasa(aiohttp_server: Any) -> tuple[FakeRasa, str]:
    fake = FakeRasa()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


# -- the console ------------------------------------------------------------------------


class Console:
    """The running console app plus its database."""

    def __init__(self, app: web.Application, url: str, settings: Settings) -> None:
        self.app = app
        self.url = url
        self.settings = settings

    def db(self, work: Callable[[Session], T]) -> T:
        with self.app[SESSIONS_KEY]() as session:
            result = work(session)
            session.commit()
            return result


class Staff:
    """One browser: its own cookies, logged in as one staff member."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str, password: str) -> Staff:
        async with self.http.get(f"{self.console.url}/login") as page:
            token = CSRF_RE.search(await page.text())
        assert token
        data = {"_csrf": token.group(1), "username": username, "password": password}
        async with self.http.post(
            f"{self.console.url}/login", data=data, allow_redirects=False
        ) as resp:
            assert resp.status == 303, await resp.text()
        # Every console page (a 403 one too) carries the session's token in its logout form.
        async with self.http.get(f"{self.console.url}/console/queue") as page:
            token = CSRF_RE.search(await page.text())
        assert token
        self.csrf = token.group(1)
        return self

    async def get_text(self, path: str) -> str:
        async with self.http.get(f"{self.console.url}{path}", allow_redirects=False) as resp:
            assert resp.status == 200, (path, resp.status)
            return await resp.text()

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(f"{self.console.url}{path}", allow_redirects=False) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, json: bool = False
    ) -> tuple[int, str, Any]:
        form = dict(data or {})
        if csrf:
            form["_csrf"] = self.csrf
        headers = {"Accept": "application/json"} if json else {}
        async with self.http.post(
            f"{self.console.url}{path}", data=form, headers=headers, allow_redirects=False
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, resp.headers.get("Location", ""), body

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def make_console(
    aiohttp_server: Any, tmp_path: Path, rasa: tuple[FakeRasa, str]
) -> Callable[..., Awaitable[Console]]:
    async def make(**env: str) -> Console:
        data_dir = tmp_path / f"console{len(list(tmp_path.iterdir()))}"
        data_dir.mkdir()
        base = {
            "BANKBOT_DATA_DIR": str(data_dir),
            "RASA_URL": rasa[1],
            "RASA_TOKEN": TOKEN,
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
            "RASA_API_TIMEOUT": "5",
        }
        base.update(env)
        settings = Settings.from_env(base)
        app = create_app(settings)
        server = await aiohttp_server(app)
        console = Console(app, str(server.make_url("")).rstrip("/"), settings)
        hasher = users.make_hasher(settings)
        console.db(
            lambda s: users.create_user(
                s, hasher, username=SUPPORT2[0], role="support", password=SUPPORT2[1],
                display_name="王客服",
            )
        )
        return console

    return make


@pytest.fixture
async def console(make_console: Callable[..., Awaitable[Console]]) -> Console:
    return await make_console()


@pytest.fixture
async def browsers(console: Console) -> Any:
    opened: list[Staff] = []

    async def open_as(account: tuple[str, str]) -> Staff:
        staff = Staff(console)
        opened.append(staff)
        return await staff.login(*account)

    yield open_as
    for staff in opened:
        await staff.close()


def add_conversation(
    console: Console,
    sender: str,
    *,
    status: str = "waiting",
    channel: str = "socketio",
    reason: str | None = "human_handoff",
    requested_ago: float = 30.0,
    summary: dict[str, Any] | None = None,
    last_intent: str | None = "human_handoff",
    urgent: str | None = None,
    ticket: str | None = None,
) -> int:
    """A conversation as the ingest projector leaves it (and its waiting handoff)."""
    now = time.time()

    def work(session: Session) -> int:
        conv = Conversation(
            sender_id=sender, channel=channel, customer_label="张* 138****8000",
            started_at=now - 600, last_at=now - requested_ago, last_intent=last_intent,
            status=status, message_count=3, urgent_reason=urgent,
        )
        session.add(conv)
        session.flush()
        if reason is not None:
            session.add(
                Handoff(
                    conversation_id=conv.id, reason=reason, requested_at=now - requested_ago,
                    summary=summary, status="waiting", urgent_reason=urgent,
                    urgent_at=now if urgent else None, ticket_id=ticket,
                )
            )
        return conv.id

    return console.db(work)


def conversation_state(console: Console, conversation_id: int) -> tuple[str, int | None, Handoff | None]:
    def work(session: Session) -> tuple[str, int | None, Handoff | None]:
        conv = session.get(Conversation, conversation_id)
        handoff = session.execute(
            select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc())
        ).scalars().first()
        if handoff is not None:
            session.expunge(handoff)
        return conv.status, conv.assigned_to, handoff

    return console.db(work)


def audit_entries(console: Console, action: str) -> list[AuditEntry]:
    def work(session: Session) -> list[AuditEntry]:
        rows = list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())
        for row in rows:
            session.expunge(row)
        return rows

    return console.db(work)


def user_id(console: Console, username: str) -> int:
    return console.db(lambda s: users.find_user(s, username).id)


# -- where the task was interrupted ---------------------------------------------------------


def user(text: str, intent: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def loop(name: str | None) -> dict[str, Any]:
    return {"event": "active_loop", "name": name}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


TRANSFER_THEN_HANDOFF = [
    action("action_session_start"),
    {"event": "session_started"},
    action("action_listen"),
    user("我要转账", "transfer_money"),
    action("action_transfer_money"),
    slot("pending_request", None),
    action("transfer_form"),
    loop("transfer_form"),
    slot("requested_slot", "payee"),
    action("action_listen"),
    user("给李娜", "inform"),
    slot("payee", "李娜"),
    action("transfer_form"),
    slot("requested_slot", "amount"),
    action("action_listen"),
    user("转人工", "human_handoff"),
    action("action_deactivate_loop"),
    loop(None),
    action("action_human_handoff"),
    {"event": "bot", "text": "好的，已为您登记转人工"},
    action("action_listen"),
]


def test_interrupted_form_is_the_intent_that_started_it() -> None:
    paused = [*TRANSFER_THEN_HANDOFF, {"event": "pause"}, user("在吗", "greet")]
    assert interrupted_task(paused) == "transfer_money"


def test_request_parked_for_verification_resumes() -> None:
    events = [
        action("action_listen"),
        user("查一下余额", "check_balance"),
        action("action_check_balance"),
        slot("pending_request", "check_balance"),
        action("verify_form"),
        loop("verify_form"),
        action("action_listen"),
        user("转人工", "human_handoff"),
        action("action_deactivate_loop"),
        loop(None),
        action("action_human_handoff"),
        action("action_listen"),
        {"event": "pause"},
    ]
    assert interrupted_task(events) == "check_balance"


def test_nothing_to_resume_after_a_finished_task_or_a_complaint() -> None:
    finished = [
        action("action_listen"),
        user("查余额", "check_balance"),
        action("action_check_balance"),
        slot("pending_request", None),
        action("action_listen"),
        user("转人工", "human_handoff"),
        action("action_human_handoff"),
        action("action_listen"),
        {"event": "pause"},
    ]
    assert interrupted_task(finished) is None
    complaint = [
        action("action_listen"),
        user("我要投诉", "complain"),
        action("action_prepare_complaint"),
        action("complaint_form"),
        loop("complaint_form"),
        action("action_listen"),
        user("网点服务太差", "inform"),
        action("complaint_form"),
        loop(None),
        action("action_submit_complaint"),
        action("action_listen"),
        {"event": "pause"},
    ]
    assert interrupted_task(complaint) is None


def test_proactive_takeover_uses_the_state_when_paused() -> None:
    events = [*TRANSFER_THEN_HANDOFF[:15], {"event": "pause"}]  # mid-form, nobody asked
    assert interrupted_task(events) == "transfer_money"


def test_bot_work_after_the_request_or_a_new_session_forgets_the_task() -> None:
    went_on = [
        *TRANSFER_THEN_HANDOFF,
        user("网点在哪", "find_branch"),
        action("action_find_branch"),
        action("action_listen"),
        {"event": "pause"},
    ]
    assert interrupted_task(went_on) is None
    new_session = [
        *TRANSFER_THEN_HANDOFF,
        action("action_session_start"),
        {"event": "session_started"},
        action("action_listen"),
        {"event": "pause"},
    ]
    assert interrupted_task(new_session) is None


# -- the task comes from the form, verification included (realistic event lists) ------------


def test_a_transfer_started_unverified_resumes_as_a_transfer() -> None:
    # 我要转账 -> phone -> code -> payee (a button) -> 转人工 while asked the amount: the
    # last customer intent before the handoff is the code's (and the payee's) "inform".
    events = [*transfer_then_handoff(), {"event": "pause"}]
    assert interrupted_task(events) == "transfer_money"


def test_a_proactive_takeover_after_verification_resumes_the_transfer() -> None:
    script = Script().session_start().transfer_started_unverified()
    assert interrupted_task([*script.events, {"event": "pause"}]) == "transfer_money"


def test_card_form_resumes_its_card_operation() -> None:
    lost = (
        Script()
        .session_start()
        .card_lost_started_unverified()
        .user('/inform{"card_last4": "1234"}', "inform", 1.0)
        .slot("card_last4", "1234")
        .action("card_form")
        .slot("requested_slot", "card_confirmed")
        .bot("确认挂失尾号1234的储蓄卡吗？", "utter_ask_card_confirmed_report_card_lost")
        .listen()
        .handoff_from_form()
    )
    assert interrupted_task([*lost.events, {"event": "pause"}]) == "report_card_lost"
    freeze = (
        Script()
        .user("先把卡冻上", "freeze_card")
        .action("action_freeze_card")
        .slot("card_operation", "freeze_card")
        .action("card_form")
        .loop("card_form")
        .listen()
        .user("储蓄卡", "inform")
        .handoff_from_form()
    )
    assert interrupted_task([*freeze.events, {"event": "pause"}]) == "freeze_card"


@pytest.mark.parametrize(
    "intent, form, task",
    [
        ("take_queue_ticket", "queue_form", "take_queue_ticket"),
        ("branch_queue_status", "queue_form", "take_queue_ticket"),  # offered a ticket: yes
        ("risk_assessment", "risk_form", "risk_assessment"),
    ],
)
def test_other_forms_resume_their_task(intent: str, form: str, task: str) -> None:
    script = (
        Script()
        .user("开始", intent)
        .action(form)
        .loop(form)
        .listen()
        .user("人民广场", "inform")
        .action(form)
        .listen()
        .handoff_from_form()
    )
    assert interrupted_task([*script.events, {"event": "pause"}]) == task


def test_verification_interrupted_resumes_the_parked_request() -> None:
    script = (
        Script()
        .user("查下余额", "check_balance")
        .verify("check_balance")
    )
    # Cut inside verify_form (before the code), then the customer asks for a person.
    cut = next(i for i, e in enumerate(script.events) if e.get("text") == "123456")
    events = [*script.events[:cut], *Script(script.t).handoff_from_form().events, {"event": "pause"}]
    assert interrupted_task(events) == "check_balance"


# -- customer-facing texts come from domain/ ---------------------------------------------


def test_domain_texts_render_with_the_staff_name_and_task() -> None:
    texts = DomainTexts.load()
    assert "王客服" in texts.text(takeover.JOINED, staff_name="王客服")
    left = texts.text(takeover.LEFT_RESUME, staff_name="王客服", task=texts.intent_label("transfer_money"))
    assert "王客服" in left and "转账" in left and "{" not in left
    assert "服务时间" in texts.text(takeover.TIMEOUT)
    assert texts.intent_label("check_balance") == "查询余额"


async def test_session_start_keeps_a_taken_over_conversation_paused() -> None:
    def tracker(paused: bool) -> Tracker:
        return Tracker("s1", {"customer_id": "c1", "payee": "李娜"}, {}, [], paused, None, {}, None)

    action_ = ActionSessionStart()
    events = await action_.run(CollectingDispatcher(), tracker(True), {})
    names = [e["event"] for e in events]
    assert names[0] == "session_started"
    assert "pause" in names and names.index("pause") < names.index("action")
    events = await action_.run(CollectingDispatcher(), tracker(False), {})
    assert "pause" not in [e["event"] for e in events]


# -- the queue --------------------------------------------------------------------------------


async def test_queue_lists_waiting_conversations_oldest_first_with_a_masked_summary(
    console: Console, browsers: Any
) -> None:
    newer = add_conversation(console, "newer-sender", requested_ago=20)
    older = add_conversation(
        console,
        "older-sender",
        channel="wechat",
        requested_ago=200,
        summary={
            "last_intent": "transfer_money",
            "slots": {
                "payee": "李娜",
                "amount": "5000",
                "phone": "13800138000",
                "otp_code": "834211",
                "transfer_key": "f00dfeedbeef",
                "customer_id": "C0001",
            },
            "verified": "step_up",
            "interrupted": "transfer_money",
            "last_message": "我的卡号 6222 0212 3456 1234",
        },
    )
    add_conversation(console, "bot-sender", status="bot", reason=None)
    support = await browsers(SUPPORT)
    page = await support.get_text("/console/queue")
    assert page.index(f"/console/conversations/{older}/take") < page.index(
        f"/console/conversations/{newer}/take"
    )
    assert "bot-sender" not in page and "/console/conversations/3/take" not in page
    for shown in ("转账", "收款人", "李娜", "138****8000", "已短信验证", "微信", "网页", "尾号1234"):
        assert shown in page, shown
    for hidden in ("13800138000", "834211", "f00dfeedbeef", "6222 0212 3456 1234"):
        assert hidden not in page, hidden

    status, data = await support.get("/api/queue")
    assert status == 200
    assert [item["conversation_id"] for item in data["waiting"]] == [older, newer]
    first = data["waiting"][0]
    assert first["summary"]["interrupted_task"] == "转账"
    assert first["waiting_seconds"] >= 200
    assert data["mine"] == []


async def test_urgent_handoffs_come_first_with_their_reason_and_ticket(
    console: Console, browsers: Any
) -> None:
    oldest = add_conversation(console, "oldest", requested_ago=300, ticket="HO-0001")
    urgent_new = add_conversation(
        console, "urgent-new", requested_ago=10, urgent="stolen_card", ticket="HO-0003"
    )
    middle = add_conversation(console, "middle", requested_ago=100)
    urgent_old = add_conversation(
        console,
        "urgent-old",
        requested_ago=50,
        urgent="fraud",
        ticket="HO-0002",
        summary={"last_intent": "report_fraud", "interrupted": "transfer_money", "slots": {}},
    )
    support = await browsers(SUPPORT)
    status, data = await support.get("/api/queue")
    assert [i["conversation_id"] for i in data["waiting"]] == [urgent_old, urgent_new, oldest, middle]
    first = data["waiting"][0]
    assert first["urgent"] is True and first["urgent_reason"] == "fraud"
    assert first["urgent_label"] == "疑似诈骗受害" and first["ticket_id"] == "HO-0002"
    assert first["summary"]["interrupted_task"] == "转账"
    assert first["summary"]["interrupted_task_code"] == "transfer_money"
    assert first["summary"]["last_intent"] == "报告被骗或转错账"
    assert data["waiting"][1]["urgent_label"] == "银行卡被盗/被抢"
    assert data["waiting"][2]["urgent"] is False and data["waiting"][2]["urgent_label"] == ""
    assert data["signature"] == f"{urgent_old}!,{urgent_new}!,{oldest},{middle}"

    page = await support.get_text("/console/queue")
    order = [page.index(f"/console/conversations/{cid}/take") for cid in (urgent_old, urgent_new, oldest, middle)]
    assert order == sorted(order)
    assert page.count('<span class="badge badge-urgent">紧急</span>') == 2
    for shown in ("疑似诈骗受害", "银行卡被盗/被抢", "HO-0002", "HO-0001", "转账"):
        assert shown in page, shown
    assert f'data-queue-ids="{data["signature"]}"' in page

    # A conversation already waiting that becomes urgent moves up.
    def make_urgent(session: Session) -> None:
        handoff = session.execute(
            select(Handoff).join(Conversation).where(Conversation.sender_id == "middle")
        ).scalar_one()
        handoff.urgent_reason, handoff.urgent_at = "disputed_transfer", time.time()

    console.db(make_urgent)
    status, data = await support.get("/api/queue")
    assert [i["conversation_id"] for i in data["waiting"]] == [middle, urgent_old, urgent_new, oldest]
    assert data["waiting"][0]["urgent_label"] == "转账争议/转错账"


async def test_the_panel_shows_the_handoff_summary_in_chinese(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    conv = add_conversation(
        console,
        "panel-1",
        urgent="fraud",
        ticket="HO-7788",
        summary={
            "last_intent": "human_handoff",
            "slots": {"payee": "李娜", "pending_request": "transfer_money", "card_operation": "freeze_card"},
            "verified": "step_up",
            "interrupted": "transfer_money",
        },
    )
    support = await browsers(SUPPORT)
    page = await support.get_text(f"/console/conversations/{conv}")
    panel = page[page.index('id="takeover"'):page.index('id="tags"')]
    for shown in ("紧急", "疑似诈骗受害", "客户要求转人工", "HO-7788", "中断业务", "转账",
                  "已短信验证", "收款人", "李娜", "待办业务", "临时冻结银行卡"):
        assert shown in panel, shown
    for hidden in ("fraud", "transfer_money", "freeze_card", "human_handoff"):
        assert hidden not in panel.replace('data-', ''), hidden
    # The panel comes first in the side column (before tags and notes).
    assert page.index('id="takeover"') < page.index('id="tags"') < page.index('id="notes"')
    # Taken: still there, with the reply box.
    assert (await support.post(f"/console/conversations/{conv}/take"))[0] == 303
    page = await support.get_text(f"/console/conversations/{conv}")
    panel = page[page.index('id="takeover"'):page.index('id="tags"')]
    assert "HO-7788" in panel and "疑似诈骗受害" in panel and 'id="takeover-text"' in panel


async def test_the_live_feed_shows_a_clicked_button_as_its_title(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    conv = add_conversation(console, "live-btn")
    support = await browsers(SUPPORT)
    await support.post(f"/console/conversations/{conv}/take")
    status, start = await support.get(f"/api/takeover/{conv}/live")

    def add(session: Session) -> None:
        now = time.time()
        session.add_all(
            [
                Message(conversation_id=conv, ts=now, kind="bot", text="请问是哪张卡？",
                        data={"buttons": CARD_BUTTONS}),
                Message(conversation_id=conv, ts=now, kind="user", text='/inform{"card_last4": "5678"}',
                        intent="inform", confidence=1.0),
            ]
        )

    console.db(add)
    status, data = await support.get(f"/api/takeover/{conv}/live?after={start['cursor']}")
    bot_message, click = data["messages"]
    assert click["text"] == "信用卡（尾号5678）" and click["button"] is True
    # The bot message was before the cursor: its buttons are still found.
    status, again = await support.get(f"/api/takeover/{conv}/live?after={bot_message['id']}")
    assert [m["text"] for m in again["messages"]] == ["信用卡（尾号5678）"]


async def test_queue_needs_a_support_login(console: Console, browsers: Any) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{console.url}/api/queue") as resp:
            assert resp.status == 401
        async with anonymous.get(f"{console.url}/console/queue", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    trainer = await browsers(TRAINER)
    status, _ = await trainer.get("/api/queue")
    assert status == 403


# -- take ---------------------------------------------------------------------------------------


async def test_take_pauses_the_bot_and_tells_the_customer(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "web-1")
    support = await browsers(SUPPORT)
    status, location, _ = await support.post(f"/console/conversations/{conv}/take")
    assert status == 303 and location == f"/console/conversations/{conv}"

    assert fake.kinds("web-1") == ["pause", "bot"]
    assert fake.paused("web-1")
    (joined,) = fake.sent("web-1")
    assert "小王" in joined["text"]
    assert "staff" not in joined["metadata"]  # a notice, not a staff message
    call = fake.calls[-1]
    assert call["output_channel"] == "latest"

    state, holder, handoff = conversation_state(console, conv)
    assert (state, holder) == ("staff", user_id(console, "support"))
    assert handoff.status == "taken" and handoff.taken_by == "support" and handoff.taken_at
    (entry,) = audit_entries(console, "takeover")
    assert entry.actor == "support" and entry.target == str(conv)

    status, data = await support.get("/api/queue")
    assert data["waiting"] == [] and [i["conversation_id"] for i in data["mine"]] == [conv]


async def test_two_staff_racing_for_one_conversation_exactly_one_wins(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "race-1")
    first, second = await browsers(SUPPORT), await browsers(SUPPORT2)
    results = await asyncio.gather(
        first.post(f"/console/conversations/{conv}/take"),
        second.post(f"/console/conversations/{conv}/take"),
    )
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [303, 409]
    assert fake.kinds("race-1") == ["pause", "bot"]
    assert len(audit_entries(console, "takeover")) == 1
    winner = "support" if results[0][0] == 303 else "support2"
    assert conversation_state(console, conv)[2].taken_by == winner


async def test_take_is_refused_without_csrf_and_for_trainers(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "csrf-1")
    support = await browsers(SUPPORT)
    status, _, _ = await support.post(f"/console/conversations/{conv}/take", csrf=False)
    assert status == 403
    trainer = await browsers(TRAINER)
    status, _, _ = await trainer.post(f"/console/conversations/{conv}/take")
    assert status == 403
    assert fake.calls == []
    assert conversation_state(console, conv)[0] == "waiting"


async def test_proactive_takeover_of_a_bot_conversation(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "bot-1", status="bot", reason=None)
    support = await browsers(SUPPORT)
    status, _, _ = await support.post(f"/console/conversations/{conv}/take")
    assert status == 303
    state, _, handoff = conversation_state(console, conv)
    assert state == "staff" and handoff.reason == "proactive" and handoff.status == "taken"
    assert fake.paused("bot-1")


async def test_take_when_rasa_is_down_changes_nothing(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    fake.fail = True
    conv = add_conversation(console, "down-1")
    support = await browsers(SUPPORT)
    status, _, body = await support.post(f"/console/conversations/{conv}/take")
    assert status == 503 and "对话引擎" in body
    state, holder, handoff = conversation_state(console, conv)
    assert (state, holder, handoff.status, handoff.taken_by) == ("waiting", None, "waiting", None)
    assert audit_entries(console, "takeover") == []


async def test_a_wrong_rasa_token_is_reported_not_ignored(
    make_console: Any, rasa: tuple[FakeRasa, str]
) -> None:
    console = await make_console(RASA_TOKEN="wrong")
    conv = add_conversation(console, "token-1")
    staff = Staff(console)
    try:
        await staff.login(*SUPPORT)
        status, _, _ = await staff.post(f"/console/conversations/{conv}/take", json=True)
    finally:
        await staff.close()
    assert status == 503
    assert conversation_state(console, conv)[0] == "waiting"


# -- reply ----------------------------------------------------------------------------------------


async def test_only_the_holder_or_an_admin_may_reply(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "reply-1")
    support, other, admin = await browsers(SUPPORT), await browsers(SUPPORT2), await browsers(ADMIN)
    assert (await support.post(f"/console/conversations/{conv}/take"))[0] == 303

    replied_after = time.time()
    status, location, _ = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "  您好，请问转给李娜多少钱？ "}
    )
    replied_before = time.time()
    assert status == 303 and location.endswith(f"/console/conversations/{conv}#takeover")
    reply = fake.sent("reply-1")[-1]
    assert reply["text"] == "您好，请问转给李娜多少钱？"
    assert reply["metadata"] == {"staff": "support", "staff_name": "小王"}
    first_reply = conversation_state(console, conv)[2].first_reply_at
    assert first_reply is not None and replied_after <= first_reply <= replied_before

    status, _, body = await other.post(
        f"/console/conversations/{conv}/reply", {"text": "我来抢答"}, json=True
    )
    assert status == 409 and body["code"] == "not_yours"
    status, _, body = await admin.post(
        f"/console/conversations/{conv}/reply", {"text": "管理员补充说明"}, json=True
    )
    assert status == 200 and body["ok"] is True
    assert [e["text"] for e in fake.sent("reply-1")][-1] == "管理员补充说明"
    assert conversation_state(console, conv)[2].first_reply_at == first_reply

    status, _, body = await support.post(f"/console/conversations/{conv}/reply", {"text": "   "}, json=True)
    assert status == 400 and body["code"] == "empty"
    status, _, body = await support.post(
        f"/console/conversations/{conv}/reply", {"text": "长" * 2001}, json=True
    )
    assert status == 400 and body["code"] == "too_long"


async def test_reply_to_a_conversation_nobody_took_is_refused(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "reply-2")
    support = await browsers(SUPPORT)
    status, _, _ = await support.post(f"/console/conversations/{conv}/reply", {"text": "你好"}, json=True)
    assert status == 409
    assert fake.calls == []


# -- hand back ---------------------------------------------------------------------------------------


async def test_hand_back_resumes_the_interrupted_task(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    fake.events["back-1"] = list(TRANSFER_THEN_HANDOFF)
    conv = add_conversation(console, "back-1")
    support = await browsers(SUPPORT)
    assert (await support.post(f"/console/conversations/{conv}/take"))[0] == 303
    fake.events["back-1"].append(user("我还要转账", "transfer_money"))  # logged while paused

    status, location, _ = await support.post(
        f"/console/conversations/{conv}/hand-back", {"resume_task": "1"}
    )
    assert status == 303 and location == f"/console/conversations/{conv}"
    assert fake.kinds("back-1") == ["pause", "bot", "bot", "resume", "trigger:transfer_money"]
    left = fake.sent("back-1")[-1]["text"]
    assert "小王" in left and "转账" in left
    trigger = fake.calls[-1]
    assert trigger["paused"] is False and trigger["output_channel"] == "latest"

    state, holder, handoff = conversation_state(console, conv)
    assert (state, holder) == ("bot", None)
    assert handoff.status == "returned" and handoff.returned_at
    (entry,) = audit_entries(console, "hand_back")
    assert entry.actor == "support" and entry.detail["resumed_task"] == "transfer_money"

    status, _, _ = await support.post(f"/console/conversations/{conv}/hand-back", {"resume_task": "1"})
    assert status == 409  # already handed back


async def test_hand_back_resumes_a_transfer_that_went_through_verification(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    fake.events["back-verified"] = transfer_then_handoff()
    conv = add_conversation(console, "back-verified")
    support = await browsers(SUPPORT)
    assert (await support.post(f"/console/conversations/{conv}/take"))[0] == 303
    status, _, body = await support.post(
        f"/console/conversations/{conv}/hand-back", {"resume_task": "1"}, json=True
    )
    assert status == 200 and body["resumed_task"] == "transfer_money"
    assert fake.kinds("back-verified")[-2:] == ["resume", "trigger:transfer_money"]
    assert "转账" in fake.sent("back-verified")[-1]["text"]
    (entry,) = audit_entries(console, "hand_back")
    assert entry.detail["resumed_task"] == "transfer_money"
    admin = await browsers(ADMIN)
    audit_page = await admin.get_text("/console/admin/audit?action=hand_back")
    assert "继续业务：转账" in audit_page


async def test_hand_back_without_resuming(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    fake.events["back-2"] = list(TRANSFER_THEN_HANDOFF)
    conv = add_conversation(console, "back-2")
    support = await browsers(SUPPORT)
    await support.post(f"/console/conversations/{conv}/take")
    status, _, body = await support.post(f"/console/conversations/{conv}/hand-back", json=True)
    assert status == 200 and body["resumed_task"] is None
    assert fake.kinds("back-2")[-2:] == ["bot", "resume"]
    assert "继续为您服务" in fake.sent("back-2")[-1]["text"]


async def test_hand_back_when_rasa_is_down_keeps_the_conversation_with_staff(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "back-3")
    support = await browsers(SUPPORT)
    await support.post(f"/console/conversations/{conv}/take")
    fake.fail = True
    status, _, _ = await support.post(f"/console/conversations/{conv}/hand-back", {"resume_task": "1"})
    assert status == 503
    state, holder, handoff = conversation_state(console, conv)
    assert (state, holder, handoff.status) == ("staff", user_id(console, "support"), "taken")
    assert audit_entries(console, "hand_back") == []


# -- the waiting-time apology ------------------------------------------------------------------------


async def test_waiting_too_long_gets_one_apology_with_service_hours(
    make_console: Any, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    # A wide gap between the two: a stalled machine must not make "fresh" due as well.
    console = await make_console(HANDOFF_TIMEOUT_SECONDS="30", HANDOFF_CHECK_SECONDS="0.2")
    late = add_conversation(console, "late-1", requested_ago=60)
    fresh = add_conversation(console, "fresh-1", requested_ago=0)
    deadline = time.monotonic() + 5
    while not fake.sent("late-1"):
        assert time.monotonic() < deadline, "no apology was sent"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.6)  # a few more checks: still one apology, the fresh one not yet
    (apology,) = fake.sent("late-1")
    assert "服务时间" in apology["text"] and "8:00-22:00" in apology["text"]
    assert apology["metadata"] == {"takeover": "timeout"}
    assert fake.sent("fresh-1") == []
    assert conversation_state(console, late)[2].timeout_notified_at is not None
    assert conversation_state(console, late)[0] == "waiting"  # still in the queue
    assert conversation_state(console, fresh)[2].timeout_notified_at is None


async def test_an_apology_that_could_not_be_sent_is_retried(
    console: Console, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    conv = add_conversation(console, "retry-1", requested_ago=400)
    fake.fail = True
    assert await takeover.notify_timeouts(console.app) == 0
    assert conversation_state(console, conv)[2].timeout_notified_at is None
    fake.fail = False
    assert await takeover.notify_timeouts(console.app) == 1
    assert await takeover.notify_timeouts(console.app) == 0
    assert len(fake.sent("retry-1")) == 1


# -- the panel and its live feed ---------------------------------------------------------------------


async def test_live_feed_returns_new_messages_masked(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    conv = add_conversation(console, "live-1")
    support = await browsers(SUPPORT)
    await support.post(f"/console/conversations/{conv}/take")
    status, start = await support.get(f"/api/takeover/{conv}/live")
    assert status == 200 and start["messages"] == [] and start["mine"] is True
    assert start["status"] == "staff" and start["holder"] == "support"

    def add(session: Session) -> None:
        now = time.time()
        session.add_all(
            [
                Message(conversation_id=conv, ts=now, kind="user", text="我的手机号13800138000"),
                Message(conversation_id=conv, ts=now, kind="slot", data={"name": "phone"}),
                Message(conversation_id=conv, ts=now, kind="staff", text="<b>收到</b>", author="support"),
            ]
        )

    console.db(add)
    status, data = await support.get(f"/api/takeover/{conv}/live?after={start['cursor']}")
    assert [m["kind"] for m in data["messages"]] == ["user", "staff"]
    assert data["messages"][0]["text"] == "我的手机号138****8000"
    assert data["messages"][1]["text"] == "<b>收到</b>"  # JSON; the page sets textContent
    status, again = await support.get(f"/api/takeover/{conv}/live?after={data['cursor']}")
    assert again["messages"] == []


def render_panel(console: Console, conversation: dict[str, Any], user: Any, **extra: Any) -> str:
    import aiohttp_jinja2

    env = aiohttp_jinja2.get_env(console.app)
    return env.get_template("console/_takeover_panel.html").render(
        conversation=conversation, user=user, csrf_token="tok<en>", **extra
    )


async def test_panel_offers_what_the_status_allows(console: Console) -> None:
    from bot.console.keys import CurrentUser

    me = CurrentUser(id=7, username="support", display_name="客服", role="support")
    waiting = render_panel(console, {"id": 5, "status": "waiting", "channel": "socketio"}, me)
    assert 'action="/console/conversations/5/take"' in waiting and "/reply" not in waiting
    assert 'value="tok&lt;en&gt;"' in waiting  # escaped

    held = {"id": 5, "status": "staff", "channel": "wechat", "assigned_to": 7}
    page = render_panel(console, held, me)
    assert 'action="/console/conversations/5/reply"' in page
    assert 'action="/console/conversations/5/hand-back"' in page
    assert "48 小时" in page and "/5/take" not in page

    other = render_panel(console, {**held, "assigned_to": 8}, me)
    assert "/reply" not in other and "其他客服" in other
    # The transcript page passes the holder on its ``transcript`` object.
    row = {"id": 5, "status": "staff", "channel": "socketio"}
    assert "/reply" not in render_panel(console, row, me, transcript={"assigned_to": 8})
    assert "/reply" in render_panel(console, row, me, transcript={"assigned_to": 7})
    trainer = CurrentUser(id=9, username="trainer", display_name="训练师", role="trainer")
    read_only = render_panel(console, {"id": 5, "status": "waiting"}, trainer)
    assert "<form" not in read_only and "data-live-url" not in read_only


async def test_a_proactive_takeover_shows_the_task_under_way(
    console: Console, rasa: tuple[FakeRasa, str], browsers: Any
) -> None:
    from bot.console.ingest import Projector

    script = Script(time.time() - 60).session_start().transfer_started_unverified()
    console.db(lambda s: Projector(console.settings).apply(s, script.for_sender("proactive-2")))
    conv = console.db(
        lambda s: s.execute(
            select(Conversation.id).where(Conversation.sender_id == "proactive-2")
        ).scalar_one()
    )
    support = await browsers(SUPPORT)
    assert (await support.post(f"/console/conversations/{conv}/take"))[0] == 303
    page = await support.get_text(f"/console/conversations/{conv}")
    summary = page[page.index('id="takeover-summary"'):page.index('id="tags"')]
    assert "客服主动接入" in summary and "转账" in summary
    status, data = await support.get("/api/queue")
    (mine,) = data["mine"]
    assert mine["reason_label"] == "客服主动接入"
    assert mine["summary"]["interrupted_task"] == "转账"
