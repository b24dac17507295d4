"""Rasa's event stream into the console tables: SQL broker table, RabbitMQ, projector.

Events are produced by Rasa itself: trackers saved through Rasa's tracker store with
its ``SQLEventBroker`` (a real ``events`` table in a temporary SQLite file) or its
``PikaEventBroker`` (the local RabbitMQ), so the format is exactly what Rasa publishes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from bot.console import search
from bot.console.app import create_app
from bot.console.db import ensure_schema, make_engine, make_sessionmaker
from bot.console.ingest import (
    INGEST_KEY,
    SQL_CURSOR,
    IngestWorker,
    Projector,
    RabbitEventSource,
    SqlEventSource,
    ingest_ctx,
)
from bot.console.keys import SESSIONS_KEY
from bot.console.models import Conversation, Handoff, IngestCursor, Message
from bot.settings import PROJECT_ROOT, Settings
from tests.bot.console.events import Script

T0 = 1_795_000_000.0  # 2026-11-18, the sandbox's clock
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = Settings.from_env({"BANKBOT_DATA_DIR": str(tmp_path)})
    return replace(base, ingest_poll_seconds=0.05)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker]:
    engine = make_engine(settings.console_db_url)
    ensure_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sql_broker(settings: Settings) -> Iterator[SQLEventBroker]:
    """Rasa's SQL event broker writing the ``events`` table the console tails."""
    events_db = settings.events_db_url.removeprefix("sqlite:///")
    broker = SQLEventBroker(dialect="sqlite", db=events_db)
    yield broker
    broker.engine.dispose()


class Rasa:
    """Saves trackers the way the Rasa server does, so the broker publishes new events."""

    def __init__(self, domain: Domain, broker: EventBroker) -> None:
        self.store = InMemoryTrackerStore(domain, event_broker=broker)

    async def say(self, sender_id: str, *events: Event) -> None:
        tracker = await self.store.get_or_create_tracker(sender_id, append_action_listen=False)
        for event in events:
            tracker.update(event)
        await self.store.save(tracker)


def user(
    text: str,
    intent: str,
    confidence: float,
    ts: float,
    *,
    entities: list[dict[str, Any]] | None = None,
    channel: str = "socketio",
    ranking: list[tuple[str, float]] | None = None,
) -> UserUttered:
    message_id = uuid.uuid4().hex
    ranked = ranking or [(intent, confidence)]
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranked],
        "message_id": message_id,
    }
    return UserUttered(
        text,
        {"name": intent, "confidence": confidence},
        entities or [],
        parse_data,
        timestamp=ts,
        input_channel=channel,
        message_id=message_id,
    )


def bot(
    text: str,
    ts: float,
    *,
    utter: str | None = None,
    buttons: list[dict[str, str]] | None = None,
    **metadata: Any,
) -> BotUttered:
    if utter:
        metadata["utter_action"] = utter
    return BotUttered(text, {"buttons": buttons}, metadata, timestamp=ts)


def action(name: str, ts: float, policy: str = "RulePolicy") -> ActionExecuted:
    return ActionExecuted(name, policy=policy, confidence=1.0, timestamp=ts)


async def drain(worker: IngestWorker, sessions: sessionmaker, expected_events: int) -> None:
    """Wait until the worker has applied ``expected_events`` events."""
    deadline = time.monotonic() + 10
    while worker.applied < expected_events:
        assert time.monotonic() < deadline, f"only {worker.applied} of {expected_events} applied"
        await asyncio.sleep(0.02)


def sql_worker(settings: Settings, sessions: sessionmaker) -> IngestWorker:
    return IngestWorker(settings, sessions, None)


def load(sessions: sessionmaker, sender_id: str) -> tuple[Conversation, list[Message]]:
    with sessions() as session:
        conv = session.execute(
            select(Conversation).where(Conversation.sender_id == sender_id)
        ).scalar_one()
        messages = (
            session.execute(
                select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)
            )
            .scalars()
            .all()
        )
        return conv, list(messages)


def handoffs(sessions: sessionmaker, conversation_id: int) -> list[Handoff]:
    with sessions() as session:
        return list(
            session.execute(
                select(Handoff)
                .where(Handoff.conversation_id == conversation_id)
                .order_by(Handoff.id)
            ).scalars()
        )


def balance_conversation(ts: float = T0) -> list[Event]:
    """A web chat customer checks the balance: greeting, verification, answer."""
    ranking = [
        ("check_balance", 0.93),
        ("transaction_history", 0.03),
        ("transfer_money", 0.01),
        ("help", 0.01),
        ("greet", 0.01),
        ("thank", 0.005),
        ("deny", 0.005),
    ]
    return [
        action("action_session_start", ts),
        SessionStarted(timestamp=ts),
        action("action_listen", ts),
        user("/greet", "greet", 1.0, ts + 1),
        action("action_greet", ts + 1.1),
        bot(
            "您好，我是沪银智能助手",
            ts + 1.2,
            utter="utter_greet",
            buttons=[{"title": "查余额", "payload": "/check_balance"}],
        ),
        action("action_listen", ts + 1.3),
        user("我想查一下余额", "check_balance", 0.93, ts + 5, ranking=ranking),
        action("action_check_balance", ts + 5.1),
        SlotSet("pending_request", "check_balance", timestamp=ts + 5.1),
        bot("为了您的账户安全，需要先验证身份", ts + 5.2, utter="utter_need_verification"),
        action("verify_form", ts + 5.3),
        ActiveLoop("verify_form", timestamp=ts + 5.3),
        SlotSet("requested_slot", "phone", timestamp=ts + 5.3),
        action("action_listen", ts + 5.4),
        user(
            "13800138000",
            "inform",
            0.88,
            ts + 9,
            entities=[{"entity": "phone", "value": "13800138000", "start": 0, "end": 11}],
        ),
        SlotSet("phone", "13800138000", timestamp=ts + 9.1),
        user("验证码是123456", "inform", 0.91, ts + 20),
        SlotSet("otp_code", "verified", timestamp=ts + 20.1),
        SlotSet("phone", None, timestamp=ts + 20.1),
        SlotSet("auth_token", "bank-session-secret-token", timestamp=ts + 20.1),
        SlotSet("customer_id", "C0001", timestamp=ts + 20.1),
        SlotSet("customer_name", "张三", timestamp=ts + 20.1),
        SlotSet("step_up_until", ts + 620, timestamp=ts + 20.1),
        ActiveLoop(None, timestamp=ts + 20.2),
        action("action_check_balance", ts + 20.3),
        bot("您尾号1234的账户余额为 52,380.15 元", ts + 20.4, utter="utter_balance"),
        action("action_listen", ts + 20.5),
    ]


async def test_sql_broker_events_become_a_conversation_with_a_transcript(
    domain: Domain, settings: Settings, sessions: sessionmaker, sql_broker: SQLEventBroker
) -> None:
    await Rasa(domain, sql_broker).say("web-1", *balance_conversation())
    worker = sql_worker(settings, sessions)
    await worker.start()
    try:
        await drain(worker, sessions, 28)
    finally:
        await worker.stop()

    conv, messages = load(sessions, "web-1")
    assert conv.channel == "socketio"
    assert conv.started_at == T0
    assert conv.last_at == T0 + 20.5
    assert conv.last_intent == "inform"
    assert conv.last_confidence == pytest.approx(0.91)
    assert conv.status == "bot"
    assert conv.message_count == 7  # 4 user + 3 bot
    assert conv.customer_id == "C0001"
    assert conv.customer_label == "张* 138****8000"
    assert (conv.flag_fallback, conv.flag_complaint, conv.flag_low_confidence) == (
        False,
        False,
        False,
    )
    assert conv.flagged is False
    assert handoffs(sessions, conv.id) == []

    kinds = [m.kind for m in messages]
    assert "action" in kinds and "slot" in kinds and "event" in kinds
    assert kinds[:4] == ["action", "event", "user", "action"]  # session start, /greet
    assert all(m.data.get("name") != "action_listen" for m in messages if m.kind == "action")
    assert [m.ts for m in messages] == sorted(m.ts for m in messages)

    users = [m for m in messages if m.kind == "user"]
    assert [m.text for m in users] == ["/greet", "我想查一下余额", "13800138000", "验证码是123456"]
    balance = users[1]
    assert (balance.intent, balance.confidence, balance.channel) == (
        "check_balance",
        0.93,
        "socketio",
    )
    assert [r["name"] for r in balance.data["intent_ranking"]] == [
        "check_balance",
        "transaction_history",
        "transfer_money",
        "help",
        "greet",
    ]
    assert balance.data["input_channel"] == "socketio"
    assert balance.data["message_id"]
    assert users[2].data["entities"][0]["entity"] == "phone"

    bots = [m for m in messages if m.kind == "bot"]
    assert bots[0].data["utter_action"] == "utter_greet"
    assert bots[0].data["buttons"] == [{"title": "查余额", "payload": "/check_balance"}]
    assert bots[2].text == "您尾号1234的账户余额为 52,380.15 元"

    actions = [m.data["name"] for m in messages if m.kind == "action"]
    assert actions == [
        "action_session_start",
        "action_greet",
        "action_check_balance",
        "verify_form",
        "action_check_balance",
    ]
    assert messages[kinds.index("action")].data["policy"] == "RulePolicy"
    slots = [(m.data["name"], m.data["value"]) for m in messages if m.kind == "slot"]
    assert ("pending_request", "check_balance") in slots
    assert ("customer_name", "张三") in slots
    events = [m.data for m in messages if m.kind == "event"]
    assert {"event": "session_started"} in events
    assert {"event": "active_loop", "name": "verify_form"} in events

    # The bank session token never reaches the console's database.
    token_rows = [m.data for m in messages if m.kind == "slot" and m.data["name"] == "auth_token"]
    assert token_rows == [{"name": "auth_token", "value": None, "redacted": True}]
    dumped = json.dumps([m.data for m in messages], ensure_ascii=False) + json.dumps(conv.state)
    assert "bank-session-secret-token" not in dumped

    # Message text is indexed for the conversation search.
    with sessions() as session:
        query = search.matching_conversations("sqlite", "查一下余额")
        assert query is not None
        found = set(session.execute(query).scalars())
        assert conv.id in found
        with_cursor = session.get(IngestCursor, SQL_CURSOR)
        assert with_cursor is not None and with_cursor.position == 28


async def test_cursor_resumes_after_restart_without_duplicates(
    domain: Domain, settings: Settings, sessions: sessionmaker, sql_broker: SQLEventBroker
) -> None:
    rasa = Rasa(domain, sql_broker)
    await rasa.say("web-2", user("你好", "greet", 0.99, T0), bot("您好", T0 + 0.1))
    first = sql_worker(settings, sessions)
    await first.start()
    await drain(first, sessions, 2)
    await first.stop()

    await rasa.say("web-2", user("再见", "goodbye", 0.97, T0 + 10), bot("再见", T0 + 10.1))
    second = sql_worker(settings, sessions)
    await second.start()
    try:
        await drain(second, sessions, 2)
        await second.wait_idle()
    finally:
        await second.stop()

    assert second.applied == 2  # only the new events
    conv, messages = load(sessions, "web-2")
    assert [m.text for m in messages] == ["你好", "您好", "再见", "再见"]
    assert conv.message_count == 4
    assert conv.last_intent == "goodbye"
    with sessions() as session:
        assert session.get(IngestCursor, SQL_CURSOR).position == 4


async def test_missing_events_table_is_waited_for_and_not_created(
    domain: Domain, settings: Settings, tmp_path: Path
) -> None:
    events_file = tmp_path / "later" / "events.db"
    source = SqlEventSource(f"sqlite:///{events_file}", poll_interval=0.01)
    await source.open(0)
    batch = await source.fetch()
    assert batch.read == 0 and batch.events == []
    assert not events_file.exists()

    events_file.parent.mkdir()
    broker = SQLEventBroker(dialect="sqlite", db=str(events_file))
    try:
        await Rasa(domain, broker).say("late-1", user("你好", "greet", 0.99, T0))
        batch = await source.fetch()
        assert [e["event"] for e in batch.events] == ["user"]
        assert batch.events[0]["sender_id"] == "late-1"
        assert batch.position == 1
        # Not acknowledged: the same events are handed out again.
        assert (await source.fetch()).position == 1
        await source.ack(batch)
        assert (await source.fetch()).read == 0
    finally:
        broker.engine.dispose()
        await source.close()


async def test_fallback_twice_puts_the_conversation_in_the_queue(
    domain: Domain, settings: Settings, sessions: sessionmaker, sql_broker: SQLEventBroker
) -> None:
    t = T0
    await Rasa(domain, sql_broker).say(
        "web-3",
        user("查下我上个月花了多少钱", "transaction_history", 0.45, t),
        action("action_transaction_history", t + 0.1),
        SlotSet("pending_request", "transaction_history", timestamp=t + 0.1),
        action("action_listen", t + 0.2),
        user("啊啊啊", "nlu_fallback", 0.4, t + 5),
        action("action_two_stage_fallback", t + 5.1),
        ActiveLoop("action_two_stage_fallback", timestamp=t + 5.1),
        user("/deny", "deny", 1.0, t + 8),
        action("action_two_stage_fallback", t + 8.1),
        user("呜呜呜", "nlu_fallback", 0.4, t + 12),
        action("action_default_fallback", t + 12.1),
        bot("抱歉，我没太理解您的意思。", t + 12.2, utter="utter_default"),
        ActiveLoop(None, timestamp=t + 12.3),
    )
    worker = sql_worker(settings, sessions)
    await worker.start()
    try:
        await drain(worker, sessions, 13)
    finally:
        await worker.stop()

    conv, _ = load(sessions, "web-3")
    assert conv.flag_fallback and conv.flag_low_confidence and conv.flagged
    assert not conv.flag_complaint
    assert conv.fallback_count == 3  # two nlu_fallback messages, one failed second stage
    assert conv.status == "waiting"
    [handoff] = handoffs(sessions, conv.id)
    assert handoff.reason == "fallback"
    assert handoff.status == "waiting"
    assert handoff.requested_at == t + 12.1
    assert handoff.summary["last_intent"] == "nlu_fallback"
    assert handoff.summary["verified"] == "none"
    assert handoff.summary["interrupted"] == "transaction_history"
    assert handoff.summary["slots"] == {"pending_request": "transaction_history"}
    assert handoff.summary["last_message"] == "呜呜呜"


async def test_handoff_summary_and_statuses_set_by_staff_are_kept(
    domain: Domain, settings: Settings, sessions: sessionmaker, sql_broker: SQLEventBroker
) -> None:
    rasa = Rasa(domain, sql_broker)
    t = T0
    await rasa.say(
        "web-4",
        SlotSet("auth_token", "tok-123", timestamp=t),
        SlotSet("customer_id", "C0002", timestamp=t),
        SlotSet("customer_name", "李娜", timestamp=t),
        SlotSet("step_up_until", t + 300, timestamp=t),
        user("给李四转5000", "transfer_money", 0.97, t + 1),
        action("transfer_form", t + 1.1),
        ActiveLoop("transfer_form", timestamp=t + 1.1),
        SlotSet("payee", "李四", timestamp=t + 1.1),
        SlotSet("amount", "5000", timestamp=t + 1.1),
        SlotSet("requested_slot", "confirm", timestamp=t + 1.1),
        user("转人工", "human_handoff", 0.99, t + 30),
        action("action_human_handoff", t + 30.1),
        bot("好的，已为您登记转人工", t + 30.2, utter="utter_handoff_recorded"),
        # Asking again while waiting opens no second request.
        user("人工客服呢", "human_handoff", 0.98, t + 60),
        action("action_human_handoff", t + 60.1),
    )
    worker = sql_worker(settings, sessions)
    await worker.start()
    try:
        await drain(worker, sessions, 15)
        conv, _ = load(sessions, "web-4")
        [handoff] = handoffs(sessions, conv.id)
        assert conv.status == "waiting"
        assert handoff.reason == "human_handoff"
        assert handoff.summary == {
            "last_intent": "human_handoff",
            "slots": {
                "customer_id": "C0002",
                "customer_name": "李娜",
                "step_up_until": t + 300,
                "payee": "李四",
                "amount": "5000",
            },
            "verified": "step_up",
            "interrupted": "transfer_money",  # the form's task, not its name
            "last_message": "转人工",
        }
        assert conv.customer_label == "李*"

        # The takeover helper takes it: status "staff", the bot is paused.
        with sessions() as session, session.begin():
            session.execute(
                update(Conversation).where(Conversation.id == conv.id).values(status="staff")
            )
        await rasa.say(
            "web-4",
            ConversationPaused(timestamp=t + 90),
            bot("您好，我是客服小王", t + 95, staff="wangfang"),
            user("我的卡 6222 0202 0011 2341 234 转不了", "inform", 0.5, t + 100),
            action("action_human_handoff", t + 101),
        )
        await drain(worker, sessions, 19)
    finally:
        await worker.stop()

    conv, messages = load(sessions, "web-4")
    assert conv.status == "staff"
    assert len(handoffs(sessions, conv.id)) == 1
    staff = [m for m in messages if m.kind == "staff"]
    assert [(m.text, m.author) for m in staff] == [("您好，我是客服小王", "wangfang")]
    assert {"event": "pause"} in [m.data for m in messages if m.kind == "event"]
    assert conv.flag_low_confidence


async def test_complaint_and_verification_levels(
    domain: Domain, settings: Settings, sessions: sessionmaker
) -> None:
    projector = Projector(settings)

    def event(sender: str, e: Event) -> dict[str, Any]:
        return {"sender_id": sender, **e.as_dict()}

    t = T0
    batch = [
        event("wx-1", user("我要投诉你们网点", "complain", 0.95, t, channel="wechat")),
        event("wx-1", action("complaint_form", t + 0.1)),
        event("wx-1", ActiveLoop("complaint_form", timestamp=t + 0.1)),
        event("wx-1", SlotSet("complaint_text", "排队两小时没人管", timestamp=t + 0.2)),
        event("wx-1", ActiveLoop(None, timestamp=t + 0.3)),
        event("wx-1", action("action_submit_complaint", t + 0.4)),
        # A bound customer whose one-time-code window has passed.
        event("wx-2", SlotSet("customer_id", "C0003", timestamp=t)),
        event("wx-2", SlotSet("auth_token", "tok", timestamp=t)),
        event("wx-2", SlotSet("step_up_until", t - 1, timestamp=t)),
        event("wx-2", user("转人工", "human_handoff", 0.99, t + 1, channel="wechat")),
        event("wx-2", action("action_human_handoff", t + 1.1)),
        # Noise Rasa also publishes: not shown in the transcript.
        {
            "sender_id": "wx-2",
            "event": "user_featurization",
            "timestamp": t + 1.2,
            "use_text_for_featurization": False,
        },
    ]
    with sessions() as session, session.begin():
        result = projector.apply(session, batch)
    assert result.events == 12
    assert len(result.new_conversation_ids) == 2
    assert len(result.handoff_ids) == 2

    complaint, _ = load(sessions, "wx-1")
    assert complaint.channel == "wechat"
    assert complaint.flag_complaint and complaint.flagged and not complaint.flag_fallback
    [handoff] = handoffs(sessions, complaint.id)
    assert handoff.reason == "complaint"
    assert handoff.summary["verified"] == "none"
    assert handoff.summary["interrupted"] is None
    assert handoff.summary["slots"] == {"complaint_text": "排队两小时没人管"}

    bound, messages = load(sessions, "wx-2")
    [handoff] = handoffs(sessions, bound.id)
    assert handoff.summary["verified"] == "bound"
    assert "step_up_until" in handoff.summary["slots"]
    assert len(messages) == 5  # 3 slots, user, action; no user_featurization


async def test_closed_conversation_reopens_on_a_new_message(
    settings: Settings, sessions: sessionmaker
) -> None:
    projector = Projector(settings)
    first = [{"sender_id": "web-5", **user("你好", "greet", 0.99, T0).as_dict()}]
    with sessions() as session, session.begin():
        projector.apply(session, first)
    with sessions() as session, session.begin():
        session.execute(update(Conversation).values(status="closed"))
    later = [{"sender_id": "web-5", **user("在吗", "greet", 0.99, T0 + 7200).as_dict()}]
    with sessions() as session, session.begin():
        projector.apply(session, later)
    conv, _ = load(sessions, "web-5")
    assert conv.status == "bot"
    assert conv.last_at == T0 + 7200


async def test_500_events_commit_in_one_batch_fast_enough_for_50_users(
    settings: Settings, sessions: sessionmaker, sql_broker: SQLEventBroker
) -> None:
    # 50 customers, 11 events each (user, action, slot, bot, action_listen, ...).
    for turn in range(2):
        for n in range(50):
            t = T0 + turn * 10 + n * 0.01
            for e in (
                user(f"查余额{turn}", "check_balance", 0.9, t),
                action("action_check_balance", t + 0.1),
                SlotSet("pending_request", "check_balance", timestamp=t + 0.1),
                bot("请先验证身份", t + 0.2),
                action("action_listen", t + 0.3),
            ):
                sql_broker.publish({"sender_id": f"load-{n}", **e.as_dict()})
    for n in range(10):
        sql_broker.publish({"sender_id": f"load-{n}", **bot("还在吗", T0 + 30).as_dict()})

    source = SqlEventSource(settings.events_db_url, batch_size=500)
    await source.open(0)
    batch = await source.fetch()
    assert (batch.read, batch.position) == (500, 500)

    projector = Projector(settings)
    started = time.perf_counter()
    with sessions() as session, session.begin():
        result = projector.apply(session, batch.events, cursor=(source.name, batch.position))
    elapsed = time.perf_counter() - started
    await source.ack(batch)
    # 50 users at one message every 5 s produce ~50 events/s; one batch of 500
    # must take well under 10 s to keep up (it takes a fraction of a second).
    assert elapsed < 3.0, elapsed
    assert len(result.conversation_ids) == 50

    rest = await source.fetch()
    assert rest.read == 10
    with sessions() as session, session.begin():
        projector.apply(session, rest.events, cursor=(source.name, rest.position))
    await source.close()
    with sessions() as session:
        assert session.query(Message).count() == 50 * 2 * 4 + 10
        assert session.get(IngestCursor, SQL_CURSOR).position == 510


async def test_ingest_ctx_shows_a_web_chat_conversation_within_2_seconds(
    aiohttp_client: Any, domain: Domain, settings: Settings, sql_broker: SQLEventBroker
) -> None:
    app = create_app(settings)
    if ingest_ctx not in app.cleanup_ctx:
        app.cleanup_ctx.append(ingest_ctx)
    client = await aiohttp_client(app)
    assert client.app[INGEST_KEY].source is not None
    sessions = client.app[SESSIONS_KEY]

    await Rasa(domain, sql_broker).say("web-live", user("你好", "greet", 0.99, time.time()))
    published = time.monotonic()
    while True:
        with sessions() as session:
            found = session.execute(
                select(Conversation.id).where(Conversation.sender_id == "web-live")
            ).scalar()
        if found:
            break
        assert time.monotonic() - published < 2.0, "conversation not ingested within 2 s"
        await asyncio.sleep(0.05)


# --- RabbitMQ (Rasa's pika broker) ---------------------------------------------------


def rabbit_port_open() -> bool:
    try:
        with socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def rabbit_names() -> AsyncIterator[tuple[str, str]]:
    """A queue and a fanout exchange of this test only (removed afterwards)."""
    if not rabbit_port_open():
        pytest.skip(f"RabbitMQ is not listening on {RABBIT_HOST}:{RABBIT_PORT}")
    names = (f"console-test-{uuid.uuid4().hex[:8]}", f"rasa-exchange-test-{uuid.uuid4().hex[:8]}")
    yield names
    connection = await aio_pika.connect_robust(f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/")
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(names[0])
        await channel.exchange_delete(names[1])


@pytest.fixture
async def pika_broker(rabbit_names: tuple[str, str]) -> AsyncIterator[PikaEventBroker]:
    queue, exchange = rabbit_names
    broker = PikaEventBroker(
        RABBIT_HOST,
        "guest",
        "guest",
        port=RABBIT_PORT,
        queues=[queue],
        exchange_name=exchange,
        connection_attempts=1,
        event_loop=asyncio.get_running_loop(),
    )
    await broker.connect()
    yield broker
    await asyncio.sleep(0.2)  # let background publishes finish
    await broker.close()


async def queue_depth(queue: str) -> int:
    connection = await aio_pika.connect_robust(f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/")
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def test_rabbitmq_events_are_ingested_and_acked_after_commit(
    domain: Domain,
    settings: Settings,
    sessions: sessionmaker,
    rabbit_names: tuple[str, str],
    pika_broker: PikaEventBroker,
) -> None:
    queue, exchange = rabbit_names
    url = f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/"
    await Rasa(domain, pika_broker).say(
        "wx-rabbit",
        user("转人工", "human_handoff", 0.99, T0, channel="wechat"),
        action("action_human_handoff", T0 + 0.1),
        bot("好的，已为您登记转人工", T0 + 0.2),
    )
    # Rasa's pika broker publishes in the background: wait until RabbitMQ holds all three.
    deadline = time.monotonic() + 10
    while await queue_depth(queue) < 3:
        assert time.monotonic() < deadline, "the three events never reached the queue"
        await asyncio.sleep(0.05)

    # A batch read but never committed is not acked: RabbitMQ hands it out again.
    probe = RabbitEventSource(url, queue, exchange=exchange, poll_interval=2.0)
    await probe.open(0)
    unacked = await probe.fetch()
    assert [e["event"] for e in unacked.events] == ["user", "action", "bot"]
    await probe.close()

    settings = replace(settings, event_source="rabbitmq", rabbitmq_url=url, rabbitmq_queue=queue)
    source = RabbitEventSource(url, queue, exchange=exchange, poll_interval=0.1)
    worker = IngestWorker(settings, sessions, None, source=source)
    await worker.start()
    try:
        await drain(worker, sessions, 3)
        await worker.wait_idle()
    finally:
        await worker.stop()

    conv, messages = load(sessions, "wx-rabbit")
    assert conv.channel == "wechat"
    assert conv.status == "waiting"
    assert [m.kind for m in messages] == ["user", "action", "bot"]
    assert [h.reason for h in handoffs(sessions, conv.id)] == ["human_handoff"]
    assert await queue_depth(queue) == 0  # acked after the commit
    with sessions() as session:
        assert session.get(IngestCursor, source.name) is None  # the queue is the cursor


# --- urgent handoffs, tickets, one open handoff, button clicks ---------------------------------


def project(settings: Settings, sessions: sessionmaker, *batches: list[dict[str, Any]]) -> None:
    """Apply each batch in its own transaction, as the worker does."""
    projector = Projector(settings)
    for batch in batches:
        with sessions() as session, session.begin():
            projector.apply(session, batch)


def queue_order(settings: Settings, sessions: sessionmaker) -> list[str]:
    from bot.console.keys import CurrentUser
    from bot.console.takeover import DomainTexts, load_queue

    me = CurrentUser(id=1, username="s", display_name="s", role="support")
    with sessions() as session:
        queue = load_queue(session, me, DomainTexts.load(), T0 + 10_000)
        ids = {c.id: c.sender_id for c in session.execute(select(Conversation)).scalars()}
    return [ids[item.conversation_id] for item in queue.waiting]


async def test_urgent_reason_set_after_the_handoff_action_makes_it_urgent(
    settings: Settings, sessions: sessionmaker
) -> None:
    # action_fraud_help sets urgent_reason before the handoff; a stolen card's button
    # sets it with the message; here the slot comes after the action, in the same turn.
    script = (
        Script()
        .user("银行卡被抢了", "human_handoff")
        .action("action_human_handoff")
        .bot("已为您登记紧急转人工", "utter_handoff_recorded_urgent")
        .slot("handoff_ticket_id", "HO-1")
        .slot("urgent_reason", "stolen_card")
        .listen()
    )
    project(settings, sessions, script.for_sender("urgent-after"))
    conv, _ = load(sessions, "urgent-after")
    [handoff] = handoffs(sessions, conv.id)
    assert (handoff.urgent_reason, handoff.ticket_id) == ("stolen_card", "HO-1")
    assert conv.urgent_reason == "stolen_card" and conv.flagged


async def test_urgent_reason_before_the_action_and_split_across_batches(
    settings: Settings, sessions: sessionmaker
) -> None:
    before = Script().session_start().fraud_report(ticket="HO-2")
    project(settings, sessions, before.for_sender("fraud-1"))
    conv, messages = load(sessions, "fraud-1")
    [handoff] = handoffs(sessions, conv.id)
    assert (handoff.urgent_reason, handoff.ticket_id) == ("fraud", "HO-2")
    # Urgent from the hand-off action's own turn (the slot was set before it).
    handoff_action = next(e for e in before.events if e.get("name") == "action_human_handoff")
    assert handoff.urgent_at == handoff_action["timestamp"]

    # The broker's batch ends right after the action: the slot arrives in the next one.
    split = (
        Script()
        .user("我转错账了，转给了陌生人", "human_handoff")
        .action("action_human_handoff")
    ).for_sender("split-1")
    rest = Script(T0 + 100).slot("urgent_reason", "disputed_transfer").slot(
        "handoff_ticket_id", "HO-3"
    ).listen().for_sender("split-1")
    project(settings, sessions, split, rest)
    conv, _ = load(sessions, "split-1")
    [handoff] = handoffs(sessions, conv.id)
    assert (handoff.urgent_reason, handoff.ticket_id) == ("disputed_transfer", "HO-3")


async def test_a_slot_set_after_the_next_customer_message_is_another_turn(
    settings: Settings, sessions: sessionmaker
) -> None:
    script = (
        Script()
        .user("转人工", "human_handoff")
        .action("action_human_handoff")
        .slot("handoff_ticket_id", "HO-4")
        .listen()
        .user("我想问个问题", "inform")
        .slot("urgent_reason", "fraud")  # not this handoff's: no handoff in this turn
        .listen()
    )
    project(settings, sessions, script.for_sender("later-1"))
    conv, _ = load(sessions, "later-1")
    [handoff] = handoffs(sessions, conv.id)
    assert handoff.urgent_reason is None and conv.urgent_reason is None
    assert handoff.ticket_id == "HO-4"


async def test_a_waiting_conversation_that_becomes_urgent_moves_up_and_stays_urgent(
    settings: Settings, sessions: sessionmaker
) -> None:
    first = Script(T0).user("转人工", "human_handoff").handoff("HO-10")
    second = Script(T0 + 50).user("转人工", "human_handoff").handoff("HO-11")
    project(settings, sessions, first.for_sender("early"), second.for_sender("later"))
    assert queue_order(settings, sessions) == ["early", "later"]

    # While waiting, "later" reports a fraud: the same (one) handoff becomes urgent.
    fraud = Script(T0 + 100).fraud_report(ticket="HO-11")
    project(settings, sessions, fraud.for_sender("later"))
    assert queue_order(settings, sessions) == ["later", "early"]
    conv, _ = load(sessions, "later")
    [handoff] = handoffs(sessions, conv.id)
    assert handoff.urgent_reason == "fraud" and handoff.ticket_id == "HO-11"
    assert handoff.requested_at == T0 + 52  # still the first request's time

    # Asking again with the slot reset does not make it ordinary again.
    again = (
        Script(T0 + 200)
        .user("人呢", "human_handoff")
        .slot("urgent_reason", None)
        .handoff("HO-11")
    )
    project(settings, sessions, again.for_sender("later"))
    [handoff] = handoffs(sessions, conv.id)
    assert handoff.urgent_reason == "fraud"
    assert queue_order(settings, sessions) == ["later", "early"]


async def test_one_open_handoff_per_conversation_while_waiting_or_taken(
    settings: Settings, sessions: sessionmaker
) -> None:
    script = (
        Script()
        .user("转人工", "human_handoff")
        .handoff("HO-20")
        .user("我要投诉", "complain")
        .action("action_prepare_complaint")
        .action("complaint_form")
        .loop("complaint_form")
        .listen()
        .user("排队两个小时没人管", "inform")
        .action("complaint_form")
        .loop(None)
        .action("action_submit_complaint")
        .slot("complaint_ticket_id", "CP-1")
        .listen()
    )
    project(settings, sessions, script.for_sender("one-1"))
    conv, _ = load(sessions, "one-1")
    [handoff] = handoffs(sessions, conv.id)
    assert handoff.reason == "human_handoff" and handoff.status == "waiting"

    # Taken by staff (the takeover's conditional update), then asked again: still one.
    with sessions() as session, session.begin():
        session.execute(update(Conversation).values(status="staff"))
        session.execute(update(Handoff).values(status="taken", taken_by="support"))
    project(settings, sessions, Script(T0 + 100).user("转人工", "human_handoff").handoff("HO-20")
            .for_sender("one-1"))
    assert len(handoffs(sessions, conv.id)) == 1
    conv, _ = load(sessions, "one-1")
    assert conv.status == "staff"

    # Handed back (returned): the next request opens a new one.
    with sessions() as session, session.begin():
        session.execute(update(Conversation).values(status="bot"))
        session.execute(update(Handoff).values(status="returned"))
    project(settings, sessions, Script(T0 + 300).user("再转人工", "human_handoff").handoff("HO-21")
            .for_sender("one-1"))
    assert [h.status for h in handoffs(sessions, conv.id)] == ["returned", "waiting"]
    assert handoffs(sessions, conv.id)[1].ticket_id == "HO-21"


async def test_complaint_tickets_are_counted_once_per_ticket_id(
    settings: Settings, sessions: sessionmaker
) -> None:
    from bot.console.models import ComplaintTicket

    def complaint(script: Script, text: str, ticket: str) -> Script:
        return (
            script.user(text, "complain")
            .action("action_prepare_complaint")
            .slot("complaint_text", text)
            .action("complaint_form")
            .loop("complaint_form")
            .loop(None)
            .action("action_submit_complaint")
            .bot(f"投诉编号：{ticket}", "utter_complaint_recorded")
            .slot("complaint_text", None)
            .slot("complaint_ticket_id", ticket)
            .listen()
        )

    one = Script()
    complaint(one, "网点排队两个小时没人管", "CP-100")
    complaint(one, "补充一下，还被工作人员吼了", "CP-100")  # details added: the same id
    complaint(one, "另外手机银行总是闪退", "CP-101")  # a new complaint: a new ticket
    other = complaint(Script(T0 + 500, channel="wechat"), "信用卡乱收年费", "CP-102")
    batch = one.for_sender("cp-1") + other.for_sender("cp-2")
    project(settings, sessions, batch)
    project(settings, sessions, batch[-3:])  # RabbitMQ may deliver events again
    with sessions() as session:
        tickets = sorted(session.execute(select(ComplaintTicket.ticket_id)).scalars())
    assert tickets == ["CP-100", "CP-101", "CP-102"]
    conv, _ = load(sessions, "cp-1")
    assert conv.flag_complaint


async def test_a_clicked_button_is_stored_with_its_title(
    settings: Settings, sessions: sessionmaker
) -> None:
    script = Script().session_start().greet_by_button().transfer_started_unverified()
    script.handoff_from_form()
    project(settings, sessions, script.for_sender("buttons-1"))
    conv, messages = load(sessions, "buttons-1")
    users = [m for m in messages if m.kind == "user"]
    assert users[0].text == "/greet" and "button_title" not in users[0].data  # no button yet
    payee = next(m for m in users if m.text.startswith("/inform"))
    assert payee.data["button_title"] == "李娜（尾号8888）"
    [handoff] = handoffs(sessions, conv.id)
    assert handoff.summary["interrupted"] == "transfer_money"
    assert handoff.summary["last_message"] == "转人工"
    assert handoff.ticket_id == "HO20261118001"
