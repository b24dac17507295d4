"""bot/console/db.py: units of work and read-only units on the console's SQLite (WAL) file."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.bank.db import read_unit, run_unit
from bot.console.db import make_engine, make_sessionmaker


def count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_a_read_unit_neither_waits_for_nor_blocks_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    factory = make_sessionmaker(engine)
    run_unit(factory, lambda s: s.execute(text("CREATE TABLE t (x INTEGER)")))
    reading, written = threading.Event(), threading.Event()

    def reader(session: Session) -> tuple[int, int]:
        before = count(session)
        reading.set()
        # A unit of work commits while this read is still open (with BEGIN IMMEDIATE
        # it would wait for the reader, and the reader for it, until the timeout).
        assert written.wait(10), "the writer waited for the read-only unit"
        return before, count(session)

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(read_unit, factory, reader)
        assert reading.wait(10)
        run_unit(factory, lambda s: s.execute(text("INSERT INTO t VALUES (1)")))
        written.set()
        assert pending.result(timeout=10) == (0, 0)  # one consistent snapshot
    assert read_unit(factory, count) == 1
    engine.dispose()


def test_a_read_unit_never_commits(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    factory = make_sessionmaker(engine)
    run_unit(factory, lambda s: s.execute(text("CREATE TABLE t (x INTEGER)")))
    read_unit(factory, lambda s: s.execute(text("INSERT INTO t VALUES (1)")))
    assert read_unit(factory, count) == 0
    engine.dispose()


def test_a_database_of_an_older_version_gets_the_new_columns(tmp_path: Path) -> None:
    from sqlalchemy import MetaData, Table, inspect

    from bot.console.db import ensure_schema
    from bot.console.models import Base

    new = {"conversations": {"urgent_reason"}, "handoffs": {"urgent_reason", "urgent_at", "ticket_id"}}
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    old = MetaData()
    for name in ("staff_users", "conversations", "handoffs"):
        table = Base.metadata.tables[name]
        Table(name, old, *[c.copy() for c in table.columns if c.name not in new.get(name, ())])
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversations (sender_id, channel, customer_label, started_at, "
                "last_at, status, flag_fallback, flag_complaint, flag_low_confidence, flagged, "
                "fallback_count, message_count, reviewed) "
                "VALUES ('old', 'wechat', '', 1, 2, 'bot', 0, 0, 0, 0, 0, 0, 0)"
            )
        )
    ensure_schema(engine)
    ensure_schema(engine)  # idempotent
    columns = {name: {c["name"] for c in inspect(engine).get_columns(name)} for name in new}
    for name, added in new.items():
        assert added <= columns[name], name
    assert inspect(engine).has_table("complaint_tickets")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sender_id, urgent_reason FROM conversations")).all() == [
            ("old", None)
        ]
    engine.dispose()
