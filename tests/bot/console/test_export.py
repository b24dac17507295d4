"""Exports on the real app: CSV (one row per conversation, BOM) and JSON (full transcripts),
filtered like the list, masked unless the exporter is an admin, always audited."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.console.app import create_app
from bot.console.conversations import CSV_COLUMNS
from bot.console.models import AuditEntry, Note
from bot.settings import Settings
from tests.bot.console.convdata import add_conversation, at, make_settings, open_db, sign_in

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
    with db() as session:
        card = add_conversation(
            session, sender="card", channel="web", last_at=at("2026-03-01", "23:30:00"),
            intent="report_card_lost", confidence=0.91, complaint=True, tags=("投诉跟进",),
            customer_label="张* 138****8000", customer_id="C0001",
            messages=[
                {"kind": "user", "text": f"卡号{CARD}挂失，手机{PHONE}", "intent": "report_card_lost",
                 "confidence": 0.91, "data": {"entities": [{"entity": "card_number", "value": CARD}]}},
                {"kind": "slot", "text": None, "data": {"name": "phone", "value": PHONE}},
                {"kind": "bot", "text": "已为尾号1234的卡办理挂失"},
            ],
        )
        session.add(Note(conversation_id=card.id, author="support1", text=f"回电{PHONE}",
                         created_at=time.time()))
        formula = add_conversation(
            session, sender="formula", last_at=at("2026-03-02", "10:00:00"), intent="greet",
            messages=[("user", "=HYPERLINK(\"http://x\")"), ("bot", "您好")],
        )
        other = add_conversation(
            session, sender="other", last_at=at("2026-03-03", "10:00:00"), intent="check_balance",
            messages=[("user", "查询余额")], urgent_reason="fraud",
        )
        session.commit()
        return {"card": card.id, "formula": formula.id, "other": other.id}


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, db: sessionmaker) -> Any:
    return await aiohttp_client(create_app(settings))


def read_csv(raw: bytes) -> list[dict[str, str]]:
    assert raw.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == CSV_COLUMNS
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def audits(db: sessionmaker) -> list[AuditEntry]:
    with db() as session:
        return list(
            session.execute(
                select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id)
            ).scalars()
        )


async def test_csv_for_support_is_masked_and_audited(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    response = await client.get("/console/export.csv")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    raw = await response.read()
    assert CARD.encode() not in raw and PHONE.encode() not in raw
    rows = read_csv(raw)
    assert [int(r["会话ID"]) for r in rows] == [convs["other"], convs["formula"], convs["card"]]
    card = rows[2]
    assert card["渠道"] == "网页" and card["客户"] == "张* 138****8000"
    assert card["客户编号"] == ""  # bank customer ids only in an admin's export
    assert card["最后消息时间"] == "2026-03-01 23:30:00"  # China time
    assert card["状态"] == "已结束" and card["投诉"] == "是" and card["兜底"] == "否"
    assert card["标签"] == "投诉跟进" and card["置信度"] == "0.91"
    # Human-readable columns in Chinese; the technical name in its own column.
    assert card["最后意图"] == "银行卡挂失" and card["意图代码"] == "report_card_lost"
    assert card["紧急"] == "" and rows[0]["紧急"] == "疑似诈骗受害"
    assert rows[0]["最后意图"] == "查询余额" and rows[1]["最后意图"] == "问候"
    assert card["首条客户消息"] == "卡号尾号1234挂失，手机138****8000"
    # A cell that starts like a formula is defused for spreadsheet programs.
    assert rows[1]["首条客户消息"] == "'=HYPERLINK(\"http://x\")"
    [entry] = audits(db)
    assert entry.actor == "support1" and entry.target == "conversations.csv"
    assert entry.detail == {"format": "csv", "filter": {}, "count": 3, "masked": True}


async def test_csv_for_admin_is_raw(client: Any, db, convs) -> None:
    sign_in(client, db, "admin")
    raw = await (await client.get("/console/export.csv", params={"channel": "web"})).read()
    rows = read_csv(raw)
    assert len(rows) == 1
    assert rows[0]["首条客户消息"] == f"卡号{CARD}挂失，手机{PHONE}"
    assert rows[0]["客户编号"] == "C0001"
    [entry] = audits(db)
    assert entry.actor == "admin1"
    assert entry.detail == {"format": "csv", "filter": {"channel": "web"}, "count": 1, "masked": False}


async def test_csv_follows_the_filters(client: Any, db, convs) -> None:
    sign_in(client, db, "trainer")
    cases = [
        ({"q": "余额"}, [convs["other"]]),
        ({"date_from": "2026-03-01", "date_to": "2026-03-01"}, [convs["card"]]),
        ({"flagged": "complaint"}, [convs["card"]]),
        ({"tag": "投诉跟进"}, [convs["card"]]),
        ({"flagged": "urgent"}, [convs["other"]]),
        ({"q": "量子"}, []),
    ]
    for params, expected in cases:
        rows = read_csv(await (await client.get("/console/export.csv", params=params)).read())
        assert [int(r["会话ID"]) for r in rows] == expected, params
    assert [e.detail["count"] for e in audits(db)] == [len(c[1]) for c in cases]
    response = await client.get("/console/export.csv", params={"status": "weird"})
    assert response.status == 400
    assert len(audits(db)) == len(cases)  # a refused export is not an export


async def test_json_has_full_transcripts_masked_for_support(client: Any, db, convs) -> None:
    sign_in(client, db, "support")
    response = await client.get("/console/export.json")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    raw = await response.read()
    assert CARD.encode() not in raw and PHONE.encode() not in raw
    data = json.loads(raw)
    assert [item["conversation"]["id"] for item in data] == [
        convs["other"], convs["formula"], convs["card"]
    ]
    card = data[2]
    assert [m["kind"] for m in card["messages"]] == ["user", "slot", "bot"]
    assert card["messages"][0]["text"] == "卡号尾号1234挂失，手机138****8000"
    assert card["messages"][0]["entities"][0]["value"] == "尾号1234"
    assert card["messages"][1]["value"] == "138****8000"
    assert card["messages"][0]["intent_label"] == "银行卡挂失"
    assert card["messages"][1]["name_label"] == "手机号"
    assert card["conversation"]["last_intent_label"] == "银行卡挂失"
    assert card["notes"][0]["text"] == "回电138****8000"
    assert "customer_id" not in card["conversation"]
    [entry] = audits(db)
    assert entry.detail == {"format": "json", "filter": {}, "count": 3, "masked": True}


async def test_json_for_admin_is_raw(client: Any, db, convs) -> None:
    sign_in(client, db, "admin")
    data = await (await client.get("/console/export.json", params={"tag": "投诉跟进"})).json(
        content_type=None
    )
    assert len(data) == 1
    card = data[0]
    assert card["messages"][0]["text"] == f"卡号{CARD}挂失，手机{PHONE}"
    assert card["messages"][1]["value"] == PHONE
    assert card["conversation"]["customer_id"] == "C0001"
    [entry] = audits(db)
    assert entry.actor == "admin1" and entry.detail["masked"] is False


async def test_large_export_streams_every_row_once(client: Any, db) -> None:
    with db() as session:
        for i in range(1234):
            add_conversation(session, last_at=at("2026-02-01") + i, messages=[("user", f"消息{i}")])
        session.commit()
    sign_in(client, db, "support")
    rows = read_csv(await (await client.get("/console/export.csv")).read())
    ids = [int(r["会话ID"]) for r in rows]
    assert len(ids) == 1234 == len(set(ids))
    data = await (await client.get("/console/export.json", params={"q": "消息12"})).json(
        content_type=None
    )
    # 消息12, 消息120-129, 消息1200-1233
    assert len(data) == 1 + 10 + 34


async def test_export_needs_login(client: Any, convs) -> None:
    response = await client.get("/console/export.csv", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")
