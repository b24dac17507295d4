"""Conversation pages and API on the real app: list, filters, transcript, escaping, masking,
reveal (admin only, audited), tags, notes and review."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.console.app import create_app
from bot.console.models import AuditEntry, Conversation, Note, Tag
from bot.console.users import create_user, make_hasher
from bot.settings import Settings
from tests.bot.console.convdata import (
    add_conversation,
    at,
    ensure_user,
    make_settings,
    open_db,
    sign_in,
)

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
CARD = "6222020200112341234"
PHONE = "13800138000"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def db(settings: Settings) -> Iterator[sessionmaker]:
    engine, factory = open_db(settings.console_db_url)
    yield factory
    engine.dispose()


@pytest.fixture
def convs(db: sessionmaker) -> dict[str, int]:
    now = time.time()
    with db() as session:
        ensure_user(session, "wang", "support", display_name="王小二")
        main = add_conversation(
            session,
            sender="main",
            last_at=now - 60,
            channel="web",
            intent="report_card_lost",
            confidence=0.42,
            low_confidence=True,
            complaint=True,
            customer_label="张* 138****8000",
            messages=[
                {"kind": "user", "text": f"我的卡号{CARD}丢了，手机{PHONE}", "intent": "report_card_lost",
                 "confidence": 0.42,
                 "data": {"entities": [{"entity": "card_number", "value": CARD}]}},
                {"kind": "action", "text": None,
                 "data": {"name": "action_report_card_lost", "policy": "RulePolicy"}},
                {"kind": "slot", "text": None, "data": {"name": "phone", "value": PHONE}},
                {"kind": "bot", "text": "已为尾号1234的卡办理挂失。"},
                {"kind": "user", "text": SCRIPT, "intent": "out_of_scope", "confidence": 0.3},
                {"kind": "user", "text": IMG, "intent": "out_of_scope", "confidence": 0.2},
                {"kind": "staff", "text": "您好，我是人工客服", "author": "wang"},
            ],
        )
        waiting = add_conversation(
            session, sender="waiting", last_at=now - 30, status="waiting", intent="human_handoff",
            messages=[("user", "转人工")],
        )
        old = add_conversation(
            session, sender="old", last_at=at("2025-03-01", "23:30:00"), intent="transfer_money", fallback=True,
            tags=("误识别",), messages=[("user", "我要转账"), ("bot", "好的")],
        )
        session.commit()
        return {"main": main.id, "waiting": waiting.id, "old": old.id}


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, db: sessionmaker) -> Any:
    return await aiohttp_client(create_app(settings))


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-conversation-id="(\d+)"', html)]


async def test_console_root_redirects_to_the_list(client: Any) -> None:
    response = await client.get("/console/", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/console/conversations"


async def test_anonymous_is_sent_to_login(client: Any, convs) -> None:
    response = await client.get("/console/conversations?status=bot", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login?next=")
    response = await client.get("/api/conversations")
    assert response.status == 401
    response = await client.get(f"/console/conversations/{convs['main']}", allow_redirects=False)
    assert response.status == 302


async def test_real_login_then_the_list(client: Any, db: sessionmaker, settings: Settings, convs) -> None:
    with db() as session:
        create_user(session, make_hasher(settings), username="li", role="support",
                    password="li-password-123")
        session.commit()
    page = await client.get("/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', await page.text()).group(1)
    response = await client.post(
        "/login",
        data={"_csrf": token, "username": "li", "password": "li-password-123",
              "next": "/console/conversations"},
        allow_redirects=False,
    )
    assert response.status == 303
    listing = await client.get("/console/conversations")
    assert listing.status == 200
    assert row_ids(await listing.text()) == [convs["waiting"], convs["main"], convs["old"]]


async def test_list_page_shows_badges_times_and_masked_customers(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    response = await client.get("/console/conversations")
    assert response.status == 200
    html = await response.text()
    assert row_ids(html) == [convs["waiting"], convs["main"], convs["old"]]
    for label in ("等待人工", "机器人服务中", "已结束", "兜底", "投诉", "低置信度"):
        assert label in html
    assert "张* 138****8000" in html and "访客" in html
    assert "共 3 条会话" in html
    assert "误识别" in html
    assert "2025-03-01 23:30:00" in html  # China time (15:30 UTC)
    assert 'href="/console/export.csv"' in html


async def test_list_filters_and_search(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    cases = [
        ({"status": "waiting"}, [convs["waiting"]]),
        ({"status": "closed"}, [convs["old"]]),
        ({"status": "bot"}, [convs["main"]]),
        ({"channel": "web"}, [convs["main"]]),
        ({"intent": "transfer_money"}, [convs["old"]]),
        ({"tag": "误识别"}, [convs["old"]]),
        ({"flagged": "complaint"}, [convs["main"]]),
        ({"flagged": "any"}, [convs["main"], convs["old"]]),
        ({"q": "转账"}, [convs["old"]]),
        ({"q": "挂失"}, [convs["main"]]),
        ({"q": "人"}, [convs["waiting"], convs["main"]]),
        ({"q": "转人工"}, [convs["waiting"]]),
        ({"q": "人转"}, []),
    ]
    for params, expected in cases:
        response = await client.get("/console/conversations", params=params)
        assert response.status == 200, params
        assert row_ids(await response.text()) == expected, params


async def test_bad_filter_is_explained(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    response = await client.get("/console/conversations", params={"date_from": "昨天"})
    assert response.status == 400
    assert "开始日期格式应为 YYYY-MM-DD" in await response.text()
    response = await client.get("/api/conversations", params={"status": "gone"})
    assert response.status == 400
    assert (await response.json())["error"] == "未知的状态"
    response = await client.get("/api/conversations", params={"cursor": "garbage"})
    assert response.status == 400


async def test_pages_follow_the_next_link(client: Any, db) -> None:
    now = time.time()
    with db() as session:
        for i in range(120):
            add_conversation(session, last_at=now - 1000 - i, messages=[("user", f"第{i}个")])
        session.commit()
    sign_in(client, db, "support")
    seen: list[int] = []
    url = "/console/conversations?channel=wechat"
    pages = 0
    while url:
        response = await client.get(url)
        html = await response.text()
        seen += row_ids(html)
        pages += 1
        match = re.search(r'href="([^"]+)" rel="next"', html)
        url = match.group(1).replace("&amp;", "&") if match else ""
        if url:
            assert parse_qs(urlsplit(url).query)["channel"] == ["wechat"]
    assert pages == 3
    assert len(seen) == 120 == len(set(seen))


async def test_api_list_and_cursor(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    response = await client.get("/api/conversations", params={"limit": "2"})
    assert response.status == 200
    body = await response.json()
    assert [item["id"] for item in body["items"]] == [convs["waiting"], convs["main"]]
    assert body["total"] == 3
    main = body["items"][1]
    assert main["status"] == "bot" and main["status_label"] == "机器人服务中"
    assert set(main["flags"]) == {"complaint", "low_confidence"}
    assert main["last_at"].endswith("+08:00")
    response = await client.get("/api/conversations", params={"limit": "2", "cursor": body["next_cursor"]})
    body = await response.json()
    assert [item["id"] for item in body["items"]] == [convs["old"]]
    assert body["next_cursor"] is None


async def test_transcript_page(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    response = await client.get(f"/console/conversations/{convs['main']}")
    assert response.status == 200
    html = await response.text()
    # In order, with times, intents (in Chinese) and confidences, entities, internal steps.
    positions = [html.index(s) for s in ("我的卡号", "已为尾号1234", "人工客服 王小二")]
    assert positions == sorted(positions)
    assert "意图：银行卡挂失" in html and "(0.42)" in html
    assert "卡号：尾号1234" in html  # the entity's label, not "card_number"
    # Support staff see no technical names: labels only.
    for technical in ("report_card_lost", "action_report_card_lost", "card_number", "out_of_scope"):
        assert technical not in html, technical
    # Internal steps are there, hidden behind one toggle (default: hidden).
    assert '<ol class="messages" id="messages">' in html
    assert "显示内部步骤（2）" in html
    assert f'href="/console/conversations/{convs["main"]}?internal=1"' in html
    assert "银行卡挂失</span>" in html and "手机号</span> = " in html
    assert "人工客服 王小二" in html
    assert "标记已复核" in html
    # Masked for support: no raw card or phone anywhere on the page.
    assert CARD not in html and PHONE not in html
    assert "尾号1234" in html and "138****8000" in html
    assert html.count(">已脱敏</span>") == 1  # only the message that had PII
    assert "显示原文" not in html
    # The takeover panel is on the page (its include is "ignore missing": a renamed or
    # deleted template would silently drop it), for this conversation, in its state, and
    # support may take over a conversation the bot is serving.
    panel = re.search(r'<section class="panel takeover-panel" id="takeover"(.*?)</section>', html, re.S)
    assert panel is not None, "the takeover panel is missing from the transcript page"
    panel_html = panel.group(0)
    assert f'data-conversation-id="{convs["main"]}"' in panel_html
    assert 'data-status="bot"' in panel_html
    assert '<p class="takeover-status" id="takeover-status" role="status">机器人服务中。</p>' in panel_html
    assert f'action="/console/conversations/{convs["main"]}/take"' in panel_html
    assert ">主动接入</button>" in panel_html

    shown = await (await client.get(f"/console/conversations/{convs['main']}?internal=1")).text()
    assert '<ol class="messages show-internal" id="messages">' in shown
    assert "隐藏内部步骤（2）" in shown


async def test_trainers_see_technical_names_beside_the_labels(client: Any, db, convs) -> None:
    sign_in(client, db, "trainer")
    html = await (await client.get(f"/console/conversations/{convs['main']}")).text()
    assert "意图：银行卡挂失 <span class=\"mono muted\">report_card_lost</span>" in html
    assert "action_report_card_lost" in html and "card_number" in html
    listing = await (await client.get("/console/conversations")).text()
    assert "银行卡挂失 <span class=\"mono muted small\">report_card_lost</span>" in listing
    assert ">银行卡挂失（report_card_lost）</option>" in listing


async def test_list_and_filters_show_intents_in_chinese(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    html = await (await client.get("/console/conversations")).text()
    assert '<option value="report_card_lost">银行卡挂失</option>' in html
    assert '<option value="transfer_money">转账</option>' in html
    assert '<option value="human_handoff">转人工</option>' in html
    visible = re.sub(r"<[^>]+>", " ", html)
    for technical in ("report_card_lost", "transfer_money", "human_handoff"):
        assert technical not in visible, technical
    api = await (await client.get("/api/conversations")).json()
    main = next(item for item in api["items"] if item["id"] == convs["main"])
    assert main["last_intent"] == "report_card_lost" and main["last_intent_label"] == "银行卡挂失"


async def test_button_payloads_show_as_the_button_title(client: Any, db) -> None:
    now = time.time()
    with db() as session:
        conv = add_conversation(
            session,
            last_at=now,
            messages=[
                {"kind": "user", "text": "/greet", "intent": "greet", "confidence": 1.0},
                {"kind": "bot", "text": "请选择要挂失的卡",
                 "data": {"buttons": [
                     {"title": "储蓄卡（尾号1234）", "payload": '/inform{"card_last4": "1234"}'},
                     {"title": "信用卡（尾号5678）", "payload": '/inform{"card_last4": "5678"}'},
                 ]}},
                {"kind": "user", "text": '/inform{"card_last4":"5678"}', "intent": "inform",
                 "confidence": 1.0},
                {"kind": "user", "text": '/inform{"amount": "500"}', "intent": "inform",
                 "confidence": 1.0},
            ],
        )
        session.commit()
        cid = conv.id
    sign_in(client, db, "support")
    html = await (await client.get(f"/console/conversations/{cid}")).text()
    assert "/greet" not in html and "/inform" not in html and "card_last4" not in html
    # No button before it: the intent's label; a click: the button's title (JSON spacing
    # aside); a payload no button offered: the intent with the values it carries.
    assert ">问候</p>" in html
    assert ">信用卡（尾号5678）</p>" in html
    assert ">提供信息：金额 500</p>" in html
    assert html.count(">点击按钮</span>") == 1 and html.count(">快捷指令</span>") == 2
    assert "<li>储蓄卡（尾号1234）</li>" in html  # the buttons the bot offered
    api = await (await client.get(f"/api/conversations/{cid}")).json()
    users = [m for m in api["messages"] if m["kind"] == "user"]
    assert [m["display_text"] for m in users] == ["问候", "信用卡（尾号5678）", "提供信息：金额 500"]


async def test_customer_text_is_escaped(client: Any, db, convs) -> None:
    sign_in(client, db, "admin")
    html = await (await client.get(f"/console/conversations/{convs['main']}")).text()
    assert SCRIPT not in html and IMG not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>" not in html.replace('<script src="/static/', "")
    api = await (await client.get(f"/api/conversations/{convs['main']}")).json()
    assert SCRIPT in [m["text"] for m in api["messages"]]  # JSON keeps the text as data


async def test_tags_notes_and_markup_in_them_are_escaped(client: Any, db, convs) -> None:
    csrf = sign_in(client, db, "support")
    cid = convs["main"]
    base = f"/console/conversations/{cid}"
    response = await client.post(f"{base}/tags", data={"_csrf": csrf, "tag": "需回访"}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == base
    response = await client.post(f"{base}/notes", data={"_csrf": csrf, "text": f"客户说 {IMG}"}, allow_redirects=False)
    assert response.status == 303
    response = await client.post(f"{base}/tags", data={"_csrf": csrf, "tag": "<b>"})
    assert response.status == 400
    assert "标签须为" in await response.text()
    html = await (await client.get(base)).text()
    assert "需回访" in html
    assert IMG not in html and "客户说 &lt;img src=x onerror=alert(1)&gt;" in html
    # Filter by the new tag, then remove it.
    listing = await client.get("/console/conversations", params={"tag": "需回访"})
    assert row_ids(await listing.text()) == [cid]
    response = await client.post(f"{base}/tags/delete", data={"_csrf": csrf, "tag": "需回访"}, allow_redirects=False)
    assert response.status == 303
    with db() as session:
        assert session.execute(select(Tag).where(Tag.conversation_id == cid)).first() is None
        note = session.execute(select(Note).where(Note.conversation_id == cid)).scalar_one()
        assert note.author == "support1"


async def test_changes_need_the_csrf_token(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    response = await client.post(f"/console/conversations/{convs['main']}/tags", data={"tag": "x"})
    assert response.status == 403
    with db() as session:
        assert session.execute(select(Tag).where(Tag.tag == "x")).first() is None


async def test_mark_reviewed_and_api_changes(client: Any, db, convs) -> None:
    csrf = sign_in(client, db, "support")
    cid = convs["main"]
    response = await client.post(f"/console/conversations/{cid}/review",
                                 data={"_csrf": csrf, "reviewed": "1"}, allow_redirects=False)
    assert response.status == 303
    html = await (await client.get(f"/console/conversations/{cid}")).text()
    assert "取消复核标记" in html and "已复核" in html
    response = await client.post(f"/api/conversations/{cid}/tags", json={"tag": "接口标签"},
                                 headers={"X-CSRF-Token": csrf})
    assert response.status == 200 and (await response.json())["result"] == "接口标签"
    response = await client.post(f"/api/conversations/{cid}/notes", json={"text": ""},
                                 headers={"X-CSRF-Token": csrf})
    assert response.status == 400 and (await response.json())["error"] == "备注不能为空"
    response = await client.post("/api/conversations/99999/review", json={},
                                 headers={"X-CSRF-Token": csrf})
    assert response.status == 404
    with db() as session:
        conv = session.get(Conversation, cid)
        assert conv.reviewed and conv.reviewed_by == "support1"


async def test_unknown_conversation_is_404(client: Any, db) -> None:
    sign_in(client, db, "support")
    assert (await client.get("/console/conversations/424242")).status == 404
    assert (await client.get("/api/conversations/424242")).status == 404


REASON = {"reason": "客户来电核实挂失的卡号", "reason_category": "customer_request"}


def reveal_entries(db) -> list[AuditEntry]:
    with db() as session:
        return list(
            session.execute(
                select(AuditEntry).where(AuditEntry.action == "reveal").order_by(AuditEntry.id)
            ).scalars()
        )


async def test_admin_reveal_is_audited_with_its_reason(client: Any, db, convs) -> None:
    csrf = sign_in(client, db, "admin")
    cid = convs["main"]
    html = await (await client.get(f"/console/conversations/{cid}")).text()
    assert "显示原文" in html and CARD not in html
    assert 'name="reason"' in html and "原因类别" in html
    assert 'src="/static/console/transcript.js"' in html
    api = await (await client.get(f"/api/conversations/{cid}")).json()
    first, slot = api["messages"][0], api["messages"][2]
    json_headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    response = await client.post(
        f"/console/conversations/{cid}/messages/{first['id']}/reveal",
        data=REASON,
        headers=json_headers,
    )
    assert response.status == 200
    body = await response.json()
    assert body["text"] == f"我的卡号{CARD}丢了，手机{PHONE}"
    assert body["entities"][0]["value"] == CARD
    response = await client.post(
        f"/api/conversations/{cid}/messages/{slot['id']}/reveal",
        json={"reason": "  交易争议  核查 "},
        headers={"X-CSRF-Token": csrf},
    )
    assert (await response.json())["value"] == PHONE
    entries = reveal_entries(db)
    assert [e.target for e in entries] == [f"message:{first['id']}", f"message:{slot['id']}"]
    assert entries[0].actor == "admin1" and entries[0].detail["conversation_id"] == cid
    assert entries[0].detail["reason"] == "客户来电核实挂失的卡号"
    assert entries[0].detail["reason_category"] == "customer_request"
    assert entries[1].detail["reason"] == "交易争议 核查" and "reason_category" not in entries[1].detail
    audit_page = await (await client.get("/console/admin/audit?action=reveal")).text()
    assert "原因：客户来电核实挂失的卡号" in audit_page and "类别：客户本人要求核实" in audit_page
    # A message of another conversation is not found (and not audited).
    response = await client.post(
        f"/console/conversations/{convs['old']}/messages/{first['id']}/reveal",
        data=REASON,
        headers=json_headers,
    )
    assert response.status == 404
    assert len(reveal_entries(db)) == 2


async def test_reveal_without_a_reason_is_refused(client: Any, db, convs) -> None:
    csrf = sign_in(client, db, "admin")
    cid = convs["main"]
    api = await (await client.get(f"/api/conversations/{cid}")).json()
    mid = api["messages"][0]["id"]
    url = f"/console/conversations/{cid}/messages/{mid}/reveal"
    for fields in ({}, {"reason": " "}, {"reason": "看", "reason_category": "fraud"},
                   {"reason": "核实", "reason_category": "nosuch"}):
        response = await client.post(
            url, data=fields, headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
        )
        assert response.status == 400, fields
        body = await response.json()
        assert CARD not in json.dumps(body, ensure_ascii=False)
    assert body["error"] == "未知的原因类别"
    response = await client.post(
        f"/api/conversations/{cid}/messages/{mid}/reveal", json={}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 400 and (await response.json())["code"] == "reason_required"
    # The page's form (no JavaScript): the transcript again, the form open with the error.
    response = await client.post(url, data={"_csrf": csrf, "reason_category": "fraud", "reason": ""})
    assert response.status == 400
    html = await response.text()
    assert "请填写查看原文的原因" in html and CARD not in html
    assert '<details class="reveal" open>' in html
    assert '<option value="fraud" selected>' in html
    assert reveal_entries(db) == []


async def test_reveal_from_the_page_form_shows_the_original(client: Any, db, convs) -> None:
    csrf = sign_in(client, db, "admin")
    cid = convs["main"]
    api = await (await client.get(f"/api/conversations/{cid}")).json()
    mid = api["messages"][0]["id"]
    response = await client.post(
        f"/console/conversations/{cid}/messages/{mid}/reveal",
        data={"_csrf": csrf, "reason": "合规抽查", "reason_category": "compliance"},
    )
    assert response.status == 200
    html = await response.text()
    assert html.count(CARD) == 1 and "已显示消息" in html
    (entry,) = reveal_entries(db)
    assert entry.detail["reason"] == "合规抽查"


@pytest.mark.parametrize("role", ["support", "trainer"])
async def test_reveal_is_refused_to_other_roles(client: Any, db, convs, role: str) -> None:
    csrf = sign_in(client, db, role)
    cid = convs["main"]
    api = await (await client.get(f"/api/conversations/{cid}")).json()
    mid = api["messages"][0]["id"]
    assert CARD not in str(api)
    response = await client.post(
        f"/console/conversations/{cid}/messages/{mid}/reveal",
        data=REASON,
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 403
    assert CARD not in await response.text()
    with db() as session:
        assert session.execute(select(AuditEntry).where(AuditEntry.action == "reveal")).first() is None


async def test_reveal_needs_csrf(client: Any, db, convs) -> None:
    sign_in(client, db, "admin")
    cid = convs["main"]
    api = await (await client.get(f"/api/conversations/{cid}")).json()
    response = await client.post(
        f"/console/conversations/{cid}/messages/{api['messages'][0]['id']}/reveal", data=REASON
    )
    assert response.status == 403


async def test_urgent_conversations_are_badged_and_filtered(client: Any, db, convs) -> None:
    with db() as session:
        urgent = add_conversation(
            session, sender="urgent", last_at=time.time() - 5, status="waiting",
            intent="report_fraud", urgent_reason="fraud", messages=[("user", "我被骗了")],
        )
        session.commit()
        urgent_id = urgent.id
    sign_in(client, db, "support")
    html = await (await client.get("/console/conversations")).text()
    assert html.count("紧急 · 疑似诈骗受害</span>") == 1
    assert '<option value="urgent">紧急</option>' in html
    filtered = await (await client.get("/console/conversations", params={"flagged": "urgent"})).text()
    assert row_ids(filtered) == [urgent_id]
    any_flag = await (await client.get("/console/conversations", params={"flagged": "any"})).text()
    assert urgent_id in row_ids(any_flag)
    page = await (await client.get(f"/console/conversations/{urgent_id}")).text()
    assert 'class="badge badge-urgent" title="紧急原因">紧急 · 疑似诈骗受害</span>' in page
    api = await (await client.get("/api/conversations", params={"flagged": "urgent"})).json()
    assert api["items"][0]["urgent_reason"] == "fraud"
    assert api["items"][0]["urgent_label"] == "疑似诈骗受害"


async def test_a_projected_conversation_reads_as_a_chat(
    client: Any, db, settings: Settings
) -> None:
    """A real event stream through the ingest projector: the chat lines show, the
    internal steps (dozens of them) are behind the one toggle, payloads are titles."""
    from bot.console.ingest import Projector
    from tests.bot.console.events import Script

    script = Script(time.time() - 300).session_start().greet_by_button()
    script.transfer_started_unverified().handoff_from_form()
    with db() as session, session.begin():
        Projector(settings).apply(session, script.for_sender("real-1"))
    with db() as session:
        cid = session.execute(select(Conversation.id).where(Conversation.sender_id == "real-1")).scalar_one()
    sign_in(client, db, "support")
    html = await (await client.get(f"/console/conversations/{cid}")).text()
    chat = html.count('<li class="msg msg-user') + html.count('<li class="msg msg-bot')
    internal = html.count('<li class="msg msg-detail')
    assert chat == 14 and internal > 40
    assert f"显示内部步骤（{internal}）" in html and '<ol class="messages" id="messages">' in html
    visible = re.sub(r"<[^>]+>", " ", html)
    for raw in ("/greet", "/inform", '"payee"', "transfer_money", "verify_form", "requested_slot"):
        assert raw not in visible, raw
    assert ">李娜（尾号8888）</p>" in html  # the clicked button
    assert ">问候</p>" in html  # the widget's "/greet": no button before it
    assert "意图：转账" in html and "验证码" in html
    assert "bank-session-token-secret" not in html and "123456" not in html
    # The summary of the handoff in the side panel: the transfer, its ticket.
    panel = html[html.index('id="takeover"'):html.index('id="tags"')]
    assert "转账" in panel and "HO20261118001" in panel
