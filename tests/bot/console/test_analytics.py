"""Analytics: exact numbers from known rows, the JSON API, the page and the local Chart.js."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console import analytics
from bot.console.analytics import (
    CHARTJS_KEY,
    ReportInputError,
    compute_report,
    preset_range,
    resolve_query,
)
from bot.console.app import create_app
from bot.console.auth import SESSION_COOKIE, hash_token
from bot.console.db import ensure_schema, make_engine, make_sessionmaker
from bot.console.models import (
    ComplaintTicket,
    Conversation,
    Handoff,
    Message,
    StaffSession,
    StaffUser,
)
from bot.console.users import create_user, make_hasher
from bot.settings import PROJECT_ROOT, Settings

CST = timezone(timedelta(hours=8))
PASSWORD = "analytics-pass-123"
MARCH = {"date_from": date(2026, 3, 1), "date_to": date(2026, 3, 31)}


def at(day: str, clock: str) -> float:
    """Epoch seconds of ``day`` ``clock`` in China time."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=CST).timestamp()


def add_conversation(
    session: Session,
    sender: str,
    channel: str,
    messages: list[tuple[str, str, str | None]],
    *,
    customer: str | None = None,
    fallback: bool = False,
    complaint: bool = False,
) -> Conversation:
    """A conversation with ``(kind, "YYYY-MM-DD HH:MM:SS", intent)`` messages."""
    stamps = [at(*when.split(" ")) for _kind, when, _intent in messages]
    conv = Conversation(
        sender_id=sender,
        channel=channel,
        customer_id=customer,
        customer_label="",
        started_at=min(stamps),
        last_at=max(stamps),
        status="bot",
        flag_fallback=fallback,
        flag_complaint=complaint,
        flagged=fallback or complaint,
        message_count=len(messages),
    )
    session.add(conv)
    session.flush()
    for (kind, _when, intent), ts in zip(messages, stamps, strict=True):
        session.add(
            Message(
                conversation_id=conv.id,
                ts=ts,
                kind=kind,
                text="…",
                intent=intent,
                author="staff1" if kind == "staff" else None,
                channel=channel,
            )
        )
    return conv


def add_handoff(
    session: Session,
    conv: Conversation,
    reason: str,
    requested: str,
    *,
    taken_after: float | None = None,
    reply_after: float | None = None,
    urgent: str | None = None,
) -> None:
    start = at(*requested.split(" "))
    session.add(
        Handoff(
            conversation_id=conv.id,
            reason=reason,
            requested_at=start,
            urgent_reason=urgent,
            urgent_at=start if urgent else None,
            status="taken" if taken_after is not None else "waiting",
            taken_by="staff1" if taken_after is not None else None,
            taken_at=None if taken_after is None else start + taken_after,
            first_reply_at=None if reply_after is None else start + reply_after,
        )
    )


def fill(session: Session) -> None:
    """Known rows around March 2026 (China time); expected numbers are in the tests."""
    add_conversation(
        session,
        "web-1",
        "socketio",
        [
            ("user", "2026-03-01 23:59:59", "greet"),  # 15:59:59 UTC: still March 1st here
            ("bot", "2026-03-01 23:59:59.500", None),
            ("user", "2026-03-02 00:00:00", "nlu_fallback"),  # 16:00 UTC on March 1st
            ("user", "2026-03-02 00:05:00", "check_balance"),
            ("action", "2026-03-02 00:05:01", None),
        ],
        customer="C001",
        fallback=True,
        complaint=True,
    )
    c2 = add_conversation(
        session,
        "wx-1",
        "wechat",
        [
            ("user", "2026-02-28 23:59:59", "greet"),  # before the range
            ("user", "2026-03-02 10:00:00", "complaint"),
            ("bot", "2026-03-02 10:00:01", None),
            ("staff", "2026-03-02 10:03:00", None),
        ],
        customer="C001",
        complaint=True,
    )
    add_handoff(session, c2, "complaint", "2026-03-02 10:00:02", taken_after=60, reply_after=180)
    c3 = add_conversation(
        session,
        "wx-2",
        "wechat",
        [
            ("user", "2026-03-02 11:00:00", "check_balance"),
            ("user", "2026-03-31 23:59:59", "check_balance"),
            ("user", "2026-04-01 00:00:00", "greet"),  # after the range
        ],
    )
    add_handoff(
        session,
        c3,
        "human_handoff",
        "2026-03-31 23:59:59",
        taken_after=30,
        reply_after=100,
        urgent="fraud",
    )
    c4 = add_conversation(  # flagged, but silent in March: not in the report
        session,
        "web-2",
        "socketio",
        [("user", "2026-04-02 09:00:00", "nlu_fallback")],
        fallback=True,
        complaint=True,
    )
    add_handoff(session, c4, "complaint", "2026-04-02 09:00:01", taken_after=1, reply_after=5)
    c5 = add_conversation(
        session,
        "web-3",
        "socketio",
        [
            ("user", "2026-03-10 12:00:00", "nlu_fallback"),
            ("user", "2026-03-10 12:01:00", "human_handoff"),
        ],
        fallback=True,
    )
    add_handoff(session, c5, "fallback", "2026-03-10 12:00:30")
    add_handoff(session, c5, "human_handoff", "2026-03-10 12:01:01", taken_after=10)
    c6 = add_conversation(session, "wx-3", "wechat", [("user", "2026-03-20 09:00:00", "complaint")])
    add_handoff(session, c6, "complaint", "2026-03-20 09:00:01")
    # Complaint tickets (complaint_ticket_id): wx-1 opened two, web-1 and wx-3 one each
    # in March; web-2's is in April. 4 tickets in March from 3 conversations.
    session.flush()
    web1 = session.execute(select(Conversation).where(Conversation.sender_id == "web-1")).scalar_one()
    for ticket, conv, when in (
        ("CP-1", c2, "2026-03-02 10:00:02"),
        ("CP-2", c2, "2026-03-02 10:02:00"),
        ("CP-3", web1, "2026-03-02 00:05:01"),
        ("CP-4", c6, "2026-03-20 09:00:01"),
        ("CP-5", c4, "2026-04-02 09:00:01"),
    ):
        session.add(
            ComplaintTicket(
                ticket_id=ticket, conversation_id=conv.id, created_at=at(*when.split(" "))
            )
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "BANKBOT_DATA_DIR": str(tmp_path),
            "WEB_PORT": "0",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
        }
    )


@pytest.fixture
def db(settings: Settings) -> Any:
    """The console database with the known rows and one support account."""
    engine = make_engine(settings.console_db_url)
    ensure_schema(engine)
    factory = make_sessionmaker(engine)
    with factory() as session:
        fill(session)
        create_user(
            session, make_hasher(settings), username="analyst", role="support", password=PASSWORD
        )
        session.commit()
    yield factory
    engine.dispose()


def report(factory: Any, **kwargs: Any) -> dict[str, Any]:
    with factory() as session:
        return compute_report(session, **kwargs)


# --- compute_report -------------------------------------------------------------------


def test_per_day_counts_follow_china_midnight(db: Any) -> None:
    result = report(db, **MARCH)
    per_day = result["per_day"]
    assert per_day["days"][0] == "2026-03-01" and per_day["days"][-1] == "2026-03-31"
    assert len(per_day["days"]) == 31
    assert per_day["channels"] == ["socketio", "wechat"]
    counts = {
        day: (per_day["conversations"]["socketio"][i], per_day["conversations"]["wechat"][i])
        for i, day in enumerate(per_day["days"])
        if per_day["total_conversations"][i]
    }
    assert counts == {
        "2026-03-01": (1, 0),
        "2026-03-02": (1, 2),
        "2026-03-10": (1, 0),
        "2026-03-20": (0, 1),
        "2026-03-31": (0, 1),
    }
    messages = {
        day: per_day["user_messages"][i]
        for i, day in enumerate(per_day["days"])
        if per_day["user_messages"][i]
    }
    assert messages == {
        "2026-03-01": 1,
        "2026-03-02": 4,
        "2026-03-10": 2,
        "2026-03-20": 1,
        "2026-03-31": 1,
    }


def test_totals_intents_and_rates(db: Any) -> None:
    result = report(db, **MARCH)
    assert result["range"] == {
        "from": "2026-03-01",
        "to": "2026-03-31",
        "days": 31,
        "timezone": "Asia/Shanghai",
        "channel": None,
    }
    assert result["totals"] == {
        "conversations": 5,
        "users": 5,
        "customers": 1,
        "messages": 12,
        "user_messages": 9,
        "bot_messages": 2,
        "staff_messages": 1,
    }
    assert result["per_channel"] == [  # most conversations first
        {"channel": "wechat", "conversations": 3, "user_messages": 4},
        {"channel": "socketio", "conversations": 2, "user_messages": 5},
    ]
    assert result["top_intents"] == [  # labels from domain/labels.yml; unknown: the name
        {"intent": "check_balance", "label": "查询余额", "count": 3, "share": 0.3333},
        {"intent": "complaint", "label": "complaint", "count": 2, "share": 0.2222},
        {"intent": "nlu_fallback", "label": "未能识别", "count": 2, "share": 0.2222},
        {"intent": "greet", "label": "问候", "count": 1, "share": 0.1111},
        {"intent": "human_handoff", "label": "转人工", "count": 1, "share": 0.1111},
    ]
    assert result["fallback"] == {
        "conversations": 2,
        "conversation_rate": 0.4,
        "messages": 2,
        "message_rate": 0.2222,
    }
    assert result["handoff"] == {
        "conversations": 4,
        "rate": 0.8,
        "requests": 5,
        "by_reason": {"complaint": 2, "fallback": 1, "human_handoff": 2},
        "reason_labels": {
            "complaint": "投诉",
            "fallback": "多次未能理解",
            "human_handoff": "客户要求转人工",
        },
        "urgent": 1,
        "by_urgent_reason": {"fraud": 1},
        "urgent_labels": {"fraud": "疑似诈骗受害"},
    }
    # Per complaint ticket (4 in March), not per conversation (3 of them).
    assert result["complaints"] == {
        "total": 4,
        "tickets": 4,
        "conversations": 3,
        "flagged_conversations": 2,
        "complaint_handoffs": 2,
    }
    # Replies after 180 s and 100 s (even count: the mean of both); takes 60, 30, 10 s.
    assert result["first_reply"] == {
        "median_seconds": 140.0,
        "replied": 2,
        "median_take_seconds": 30.0,
        "taken": 3,
    }


def test_channel_filter(db: Any) -> None:
    result = report(db, **MARCH, channel="wechat")
    assert result["totals"]["conversations"] == 3
    assert result["totals"]["messages"] == 6
    assert result["per_day"]["channels"] == ["wechat"]
    assert [row["intent"] for row in result["top_intents"]] == ["check_balance", "complaint"]
    assert result["fallback"]["conversation_rate"] == 0.0
    assert result["handoff"]["rate"] == 1.0
    assert result["handoff"]["by_reason"] == {"complaint": 2, "human_handoff": 1}
    assert result["complaints"]["total"] == 3  # CP-1, CP-2 (wx-1) and CP-4 (wx-3)
    assert result["complaints"]["conversations"] == 2
    assert result["first_reply"]["median_seconds"] == 140.0
    assert result["first_reply"]["median_take_seconds"] == 45.0


def test_single_day_and_empty_range(db: Any) -> None:
    day = report(db, date_from=date(2026, 3, 2), date_to=date(2026, 3, 2))
    assert day["totals"]["conversations"] == 3
    assert day["per_day"]["conversations"] == {"socketio": [1], "wechat": [2]}
    assert day["handoff"]["rate"] == 0.3333
    empty = report(db, date_from=date(2025, 1, 1), date_to=date(2025, 1, 7))
    assert empty["totals"]["conversations"] == 0
    assert empty["per_day"]["total_conversations"] == [0] * 7
    assert empty["top_intents"] == []
    assert empty["fallback"]["conversation_rate"] is None
    assert empty["handoff"]["rate"] is None
    assert empty["first_reply"]["median_seconds"] is None


def test_presets_and_query_validation() -> None:
    today = date(2026, 3, 15)
    assert preset_range("last7", today) == (date(2026, 3, 9), today)
    assert preset_range("month", today) == (date(2026, 3, 1), today)
    assert preset_range("prev_month", today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert preset_range("prev_month", date(2026, 1, 5)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert resolve_query({}, today)["date_from"] == date(2026, 3, 1)
    assert resolve_query({"from": "2026-01-02", "to": "2026-01-03"}, today)["preset"] == ""
    for bad in (
        {"from": "2026-13-01", "to": "2026-03-01"},
        {"from": "2026/03/01", "to": "2026-03-31"},
        {"from": "2026-03-05", "to": "2026-03-01"},
        {"from": "2026-03-01"},
        {"from": "2024-01-01", "to": "2026-01-01"},
        {"preset": "forever"},
    ):
        with pytest.raises(ReportInputError):
            resolve_query(bad, today)


# --- HTTP ---------------------------------------------------------------------------------


@pytest.fixture
async def anon(aiohttp_client: Any, settings: Settings, db: Any) -> Any:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def client(anon: Any, db: Any) -> Any:
    """The app with the support account signed in (a session row plus its cookie)."""
    token = secrets.token_urlsafe(32)
    with db() as session:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == "analyst")
        ).scalar_one()
        now = time.time()
        session.add(
            StaffSession(
                token_hash=hash_token(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + 3600,
                ip="127.0.0.1",
            )
        )
        session.commit()
    anon.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
    return anon


async def test_api_returns_the_report(client: Any, db: Any) -> None:
    response = await client.get("/api/analytics", params={"from": "2026-03-01", "to": "2026-03-31"})
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == report(db, **MARCH)
    wechat = await client.get(
        "/api/analytics", params={"from": "2026-03-01", "to": "2026-03-31", "channel": "wechat"}
    )
    assert (await wechat.json())["totals"]["conversations"] == 3
    download = await client.get(
        "/api/analytics", params={"from": "2026-03-01", "to": "2026-03-31", "download": "1"}
    )
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="analytics_2026-03-01_2026-03-31.json"'
    )


async def test_api_defaults_to_this_month(client: Any) -> None:
    body = await (await client.get("/api/analytics")).json()
    today = analytics.china_today()
    assert body["range"]["from"] == today.replace(day=1).isoformat()
    assert body["range"]["to"] == today.isoformat()


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "yesterday", "to": "2026-03-01"}, "YYYY-MM-DD"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "开始日期不能晚于结束日期"),
        ({"to": "2026-03-01"}, "同时提供"),
        ({"from": "2020-01-01", "to": "2026-03-01"}, "366"),
    ],
)
async def test_api_rejects_bad_dates(client: Any, params: dict[str, str], needle: str) -> None:
    response = await client.get("/api/analytics", params=params)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "bad_request"
    assert needle in body["message"]


async def test_anonymous_is_turned_away(anon: Any) -> None:
    api = await anon.get("/api/analytics")
    assert api.status == 401
    assert "error" in await api.json()
    page = await anon.get("/console/analytics?preset=last7", allow_redirects=False)
    assert page.status == 302
    assert page.headers["Location"].startswith("/login?next=/console/analytics")


async def test_page_shows_numbers_tables_and_local_scripts(client: Any, db: Any) -> None:
    response = await client.get(
        "/console/analytics", params={"from": "2026-03-01", "to": "2026-03-31"}
    )
    assert response.status == 200
    html = await response.text()
    assert "统计报表" in html and "2026-03-01 至 2026-03-31" in html
    assert re.search(r'id="kpi-conversations">5<', html)
    assert re.search(r'id="kpi-fallback">40.0%<', html)
    assert re.search(r'id="kpi-handoff">80.0%<', html)
    assert re.search(r'id="kpi-complaints">4<', html)  # complaint tickets
    assert "涉及 3 个会话" in html
    assert re.search(r'id="kpi-first-reply">2 分 20 秒<', html)
    # Intents and reasons in Chinese for support staff (no technical names).
    assert '<th scope="row">查询余额</th><td>3</td><td>33.3%</td>' in html
    assert '<th scope="row">未能识别</th>' in html and ">check_balance<" not in html
    assert "转人工：客户要求转人工" in html and "其中紧急：疑似诈骗受害" in html
    visible = re.sub(r"<[^>]+>", "", html.split('id="report-data"')[0])
    assert "nlu_fallback" not in visible and "human_handoff" not in visible
    assert '<th scope="row">2026-03-02</th><td>1</td><td>2</td><td>3</td><td>4</td>' in html
    assert "下载 JSON" in html
    assert 'href="/api/analytics?from=2026-03-01&amp;to=2026-03-31&amp;download=1"' in html
    blob = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert blob and json.loads(blob.group(1)) == report(db, **MARCH)
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text("utf-8"))["dependencies"]
    sources = re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", html)
    assert sources == [
        f"/vendor/chart.umd.js?v={pinned['chart.js']}",
        "/static/console/analytics.js",
    ]
    assert "<script>" not in html  # nothing inline that CSP would block
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    script = await client.get("/static/console/analytics.js")
    assert script.status == 200
    assert "report-data" in await script.text()


async def test_page_with_bad_dates_explains(client: Any) -> None:
    response = await client.get(
        "/console/analytics", params={"from": "2026-03-09", "to": "2026-03-01"}
    )
    assert response.status == 400
    html = await response.text()
    assert "开始日期不能晚于结束日期" in html
    assert 'id="report-data"' in html  # the form and this month's report are still there


async def test_chartjs_is_served_locally(anon: Any) -> None:
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text("utf-8"))["dependencies"]
    response = await anon.get("/vendor/chart.umd.js")
    assert response.status == 200
    assert response.content_type == "application/javascript"
    head = (await response.text())[:200]
    assert f"Chart.js v{pinned['chart.js']}" in head


async def test_chartjs_missing_is_a_clear_503(
    aiohttp_client: Any, settings: Settings, db: Any, tmp_path: Path
) -> None:
    app = create_app(settings)
    app[CHARTJS_KEY] = tmp_path / "absent" / "chart.umd.js"
    client = await aiohttp_client(app)
    response = await client.get("/vendor/chart.umd.js")
    assert response.status == 503
    assert "npm ci" in await response.text()
