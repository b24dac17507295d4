"""The console's engine, sessions and schema (SQLite file by default, PostgreSQL in scale-out).

One engine and session factory per process, opened in the app's startup; every
request or unit of work gets its own session through :func:`run`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.bank.db import make_engine as _make_engine
from bot.bank.db import make_sessionmaker, read_unit_async, run_unit_async

from .models import Base
from .search import create_search_index

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """Engine for the console database; SQLite runs in WAL mode so pages read while events land."""
    engine = _make_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def ensure_schema(engine: Engine) -> None:
    """Create missing tables, columns added since and the full-text index (idempotent)."""
    Base.metadata.create_all(engine)
    add_missing_columns(engine)
    create_search_index(engine)


def add_missing_columns(engine: Engine) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for nullable columns a database made by an older
    version lacks (e.g. ``handoffs.urgent_reason``); returns ``table.column`` added."""
    added = []
    with engine.begin() as conn:
        inspector = inspect(conn)  # on the same connection: SQLite has one writer
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present or not column.nullable:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(
                    text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                )
                added.append(f"{table.name}.{column.name}")
    return added


async def run(
    factory: sessionmaker, executor: Executor | None, work: Callable[[Session], T]
) -> T:
    """Run ``work(session)`` in one transaction on a worker thread."""
    return await run_unit_async(factory, executor, work)


async def read(
    factory: sessionmaker, executor: Executor | None, work: Callable[[Session], T]
) -> T:
    """Run ``work(session)``, which only reads, on a worker thread (nothing is written)."""
    return await read_unit_async(factory, executor, work)


__all__ = ["add_missing_columns", "ensure_schema", "make_engine", "make_sessionmaker", "read", "run"]
