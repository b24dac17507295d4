"""bot.stores keeps exactly what Rasa's SQL tracker store and event broker store,
with fewer queries and commits per turn."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import PROJECT_ROOT
from bot.stores import BatchingSQLEventBroker, BatchingSQLTrackerStore, pooled_engine

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, check_balance]
slots:
  phone:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "你好"}]
"""
)


def _session_start(ts: float) -> list[Any]:
    """As Rasa logs them: SessionStarted is created by the action, before the
    ActionExecuted that precedes it (stores count from the SessionStarted time)."""
    return [
        ActionExecuted("action_session_start", timestamp=ts + 0.5),
        SessionStarted(timestamp=ts),
    ]


def _turns() -> list[list[Any]]:
    """Events of a conversation, one list per saved turn (two sessions)."""
    ts = iter(float(1_700_000_000 + i) for i in range(100))
    return [
        [
            *_session_start(next(ts)),
            ActionExecuted("action_listen", timestamp=next(ts)),
            UserUttered("你好", {"name": "greet", "confidence": 0.9}, timestamp=next(ts)),
            ActionExecuted("utter_greet", timestamp=next(ts)),
            BotUttered("你好", timestamp=next(ts)),
            ActionExecuted("action_listen", timestamp=next(ts)),
        ],
        [
            UserUttered("查余额", {"name": "check_balance", "confidence": 0.8}, timestamp=next(ts)),
            ActiveLoop("verify_form", timestamp=next(ts)),
            SlotSet("phone", "13800138000", timestamp=next(ts)),
            ActionExecuted("action_listen", timestamp=next(ts)),
        ],
        [],  # a save without new events
        [
            *_session_start(next(ts)),
            SlotSet("phone", "13800138000", timestamp=next(ts)),
            ActionExecuted("action_listen", timestamp=next(ts)),
            UserUttered("你好", {"name": "greet", "confidence": 0.9}, timestamp=next(ts)),
        ],
        [ActionExecuted("utter_greet", timestamp=next(ts)), BotUttered("你好", timestamp=next(ts))],
    ]


async def _converse(store: TrackerStore, sender_id: str) -> None:
    """Saves the conversation turn by turn, retrieving the tracker each time as
    Rasa's processor does."""
    for turn in _turns():
        tracker = await store.retrieve(sender_id)
        if tracker is None:
            tracker = DialogueStateTracker(sender_id, DOMAIN.slots)
        for event in turn:
            tracker.update(event)
        await store.save(tracker)


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


TRACKER_ROWS = (
    "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id"
)
BROKER_ROWS = "SELECT sender_id, data FROM events ORDER BY id"


def _rasa_stores(tmp: Path) -> TrackerStore:
    broker = SQLEventBroker(dialect="sqlite", db=str(tmp / "events.db"))
    return SQLTrackerStore(
        domain=DOMAIN, dialect="sqlite", db=str(tmp / "tracker.db"), event_broker=broker
    )


def _our_stores(tmp: Path) -> BatchingSQLTrackerStore:
    broker = BatchingSQLEventBroker(dialect="sqlite", db=str(tmp / "events.db"))
    return BatchingSQLTrackerStore(
        domain=DOMAIN, dialect="sqlite", db=str(tmp / "tracker.db"), event_broker=broker
    )


async def test_same_rows_and_events_as_rasa(tmp_path: Path) -> None:
    rasa_dir, ours_dir = tmp_path / "rasa", tmp_path / "ours"
    rasa_dir.mkdir()
    ours_dir.mkdir()
    for sender in ("alice", "bob"):
        await _converse(_rasa_stores(rasa_dir), sender)
        await _converse(_our_stores(ours_dir), sender)

    expected_tracker = _rows(rasa_dir / "tracker.db", TRACKER_ROWS)
    assert len(expected_tracker) == 2 * sum(len(turn) for turn in _turns())
    assert _rows(ours_dir / "tracker.db", TRACKER_ROWS) == expected_tracker
    expected_broker = _rows(rasa_dir / "events.db", BROKER_ROWS)
    assert len(expected_broker) == len(expected_tracker)
    assert _rows(ours_dir / "events.db", BROKER_ROWS) == expected_broker
    assert json.loads(expected_broker[0][1])["sender_id"] == "alice"


async def test_retrieved_tracker_is_rasas(tmp_path: Path) -> None:
    (tmp_path / "rasa").mkdir()
    (tmp_path / "ours").mkdir()
    rasa_store, our_store = _rasa_stores(tmp_path / "rasa"), _our_stores(tmp_path / "ours")
    await _converse(rasa_store, "carol")
    await _converse(our_store, "carol")
    for method in ("retrieve", "retrieve_full_tracker"):
        expected = await getattr(rasa_store, method)("carol")
        got = await getattr(our_store, method)("carol")
        assert got.current_state() == expected.current_state()
        assert [e.as_dict() for e in got.events] == [e.as_dict() for e in expected.events]


def _count_commits(engine: sa.engine.Engine) -> list[int]:
    commits = [0]

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    sa.event.listen(engine, "commit", on_commit)
    return commits


async def test_one_commit_per_database_per_save(tmp_path: Path) -> None:
    store = _our_stores(tmp_path)
    tracker = DialogueStateTracker("dave", DOMAIN.slots)
    for event in _turns()[0]:
        tracker.update(event)
    store_commits = _count_commits(store.engine)
    broker_commits = _count_commits(store.event_broker.engine)
    await store.save(tracker)
    assert (store_commits[0], broker_commits[0]) == (1, 1)  # Rasa: 1 and 7

    await store.save(tracker)  # nothing new: nothing written
    assert (store_commits[0], broker_commits[0]) == (1, 1)


def test_sqlite_files_use_a_pool_and_wal(tmp_path: Path) -> None:
    store = _our_stores(tmp_path)
    for engine in (store.engine, store.event_broker.engine):
        assert isinstance(engine.pool, sa.pool.QueuePool)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            # Durability as before: every commit is synced.
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_other_databases_keep_their_engine() -> None:
    engine = sa.create_engine("sqlite://")  # in memory: nothing to pool or journal
    assert pooled_engine(engine) is engine


class _ListBroker(EventBroker):
    """A broker with ``publish`` only (like Kafka or Pika)."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.published.append(event)


async def test_brokers_without_publish_many_get_each_event(tmp_path: Path) -> None:
    broker = _ListBroker()
    store = BatchingSQLTrackerStore(
        domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"), event_broker=broker
    )
    await _converse(store, "erin")
    assert [e["event"] for e in broker.published[:3]] == ["action", "session_started", "action"]
    assert len(broker.published) == sum(len(turn) for turn in _turns())
    assert {e["sender_id"] for e in broker.published} == {"erin"}


async def test_endpoints_yml_loads_these_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rasa silently falls back to an in-memory store (and no broker) when a
    custom type does not import: make sure endpoints.yml really gets ours."""
    from rasa.core.tracker_store import create_tracker_store

    monkeypatch.setenv("BANKBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:1/webhook")
    endpoints = AvailableEndpoints.read_endpoints(str(PROJECT_ROOT / "endpoints.yml"))
    broker = await EventBroker.create(endpoints.event_broker)
    assert type(broker) is BatchingSQLEventBroker
    store = create_tracker_store(endpoints.tracker_store, DOMAIN, broker)
    assert type(store) is BatchingSQLTrackerStore
    assert store.event_broker is broker
    assert (tmp_path / "tracker.db").exists() and (tmp_path / "events.db").exists()
