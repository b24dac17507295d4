"""Rasa's SQL tracker store and SQL event broker, without the per-turn waste.

endpoints.yml names these classes instead of Rasa's ``SQL`` types. Stored rows,
published events and their order are exactly those of Rasa 3.6's classes; only
the work per turn is less:

* Rasa's ``SQLTrackerStore.save`` first reads and deserialises the whole
  conversation session a second time (the processor has just done so) only to
  count its events, then publishes each new event to the broker in a session
  and commit of its own (about a dozen per message), then counts the stored
  events again and inserts the new ones. :meth:`BatchingSQLTrackerStore.save`
  counts once (the same query as Rasa's), publishes the new events in one
  transaction and inserts them in another: two commits per turn.
* SQLAlchemy 1.4 opens a new SQLite connection for every session of a file
  database (``NullPool``); these engines keep their connections in a pool.
* A SQLite file is put in WAL mode: one small append and sync per commit
  instead of a rollback journal created, synced and deleted, and readers (the
  console tails the events table) no longer block the writer. ``synchronous``
  stays at SQLite's default (FULL), so a committed turn survives a power cut.

For other dialects (PostgreSQL) only the batching applies.
"""

from __future__ import annotations

import itertools
import json
import logging
from asyncio import AbstractEventLoop
from collections.abc import Iterable
from typing import Any, Optional

import sqlalchemy as sa
import sqlalchemy.orm
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# A writer that finds the database locked (another process mid-commit) waits
# this long before giving up; Python's sqlite3 default is 5 s.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


def is_sqlite_file(url: sa.engine.URL) -> bool:
    """True for a SQLite database in a file (not ``:memory:``)."""
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # Persistent in the file; returns the mode actually in force.
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode and str(mode[0]).lower() != "wal":
            logger.warning("SQLite kept journal_mode=%s (WAL not available here)", mode[0])
    finally:
        cursor.close()


def pooled_engine(engine: sa.engine.Engine) -> sa.engine.Engine:
    """``engine`` itself, or for a SQLite file a pooled WAL-mode engine to the same file.

    The returned engine replaces (and disposes) ``engine``.
    """
    if not is_sqlite_file(engine.url):
        return engine
    url = engine.url
    engine.dispose()
    pooled = sa.create_engine(
        url,
        poolclass=sa.pool.QueuePool,
        pool_size=2,
        max_overflow=8,
        # A pooled connection may be handed to another thread (never two at once).
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
    )
    sa.event.listen(pooled, "connect", _set_sqlite_pragmas)
    return pooled


class BatchingSQLEventBroker(SQLEventBroker):
    """Rasa's SQL event broker with pooled connections and :meth:`publish_many`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Same parameters as Rasa's ``SQLEventBroker``."""
        super().__init__(*args, **kwargs)
        self.engine: sa.engine.Engine = pooled_engine(self.engine)  # type: ignore[has-type]
        self.sessionmaker = sqlalchemy.orm.sessionmaker(bind=self.engine)

    @classmethod
    async def from_endpoint_config(
        cls,
        broker_config: EndpointConfig,
        event_loop: Optional[AbstractEventLoop] = None,
    ) -> BatchingSQLEventBroker:
        """Creates the broker from endpoints.yml (same keys as type ``SQL``)."""
        return cls(host=broker_config.url, **broker_config.kwargs)

    def publish_many(self, events: Iterable[dict[str, Any]]) -> None:
        """Publishes ``events`` in order, in one transaction."""
        rows = [
            self.SQLBrokerEvent(sender_id=event.get("sender_id"), data=json.dumps(event))
            for event in events
        ]
        if not rows:
            return
        with self.session_scope() as session:
            session.add_all(rows)
            session.commit()


class BatchingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store; one count, one publish and one insert per save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Same parameters as Rasa's ``SQLTrackerStore``."""
        super().__init__(*args, **kwargs)
        self.engine: sa.engine.Engine = pooled_engine(self.engine)  # type: ignore[has-type]
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _publish(self, sender_id: str, events: list[Any]) -> None:
        """Streams ``events`` to the broker, in one transaction when it can."""
        if self.event_broker is None:
            return
        bodies = [{"sender_id": sender_id, **event.as_dict()} for event in events]
        publish_many = getattr(self.event_broker, "publish_many", None)
        if publish_many is not None:
            publish_many(bodies)
            return
        for body in bodies:
            self.event_broker.publish(body)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Publishes and stores the events not stored yet (like Rasa's ``save``).

        Rasa streams ``events[len(retrieved tracker):]`` and stores
        ``events[count of stored rows:]``; both offsets are the number of rows of
        the current session, so it is counted once here.
        """
        with self.session_scope() as session:
            offset = self._event_query(
                session, tracker.sender_id, fetch_events_from_all_sessions=False
            ).count()
            new_events = list(itertools.islice(tracker.events, offset, len(tracker.events)))
            if not new_events:
                return
            # Broker first, as Rasa does (a separate database: its own transaction).
            self._publish(tracker.sender_id, new_events)
            for event in new_events:
                data = event.as_dict()
                intent = data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=intent,
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()
        logger.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)


__all__ = ["BatchingSQLEventBroker", "BatchingSQLTrackerStore", "is_sqlite_file", "pooled_engine"]
