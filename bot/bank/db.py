"""Engine, column types and the unit-of-work runner of the sandbox bank.

Money is exact: ``Numeric(18, 2)`` on PostgreSQL and other servers; on SQLite (which
has no decimal type) the same column is stored as an integer number of cents.
SQLite transactions start with ``BEGIN IMMEDIATE`` so concurrent units of work are
serialised instead of failing half-way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Numeric, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from .clock import CST

T = TypeVar("T")


class Fixed(TypeDecorator):
    """A fixed-point decimal (default ``Numeric(18, 2)``) that never passes through float."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        super().__init__(precision, scale)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(self._quantum)
        if dialect.name == "sqlite":
            return int(exact.scaleb(self.scale))
        return exact

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)


class LocalDateTime(TypeDecorator):
    """A timestamp stored as naive China Standard Time, returned timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(CST).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=CST)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets immediate transactions and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, future=True, pool_pre_ping=True)
    database = parsed.database or ""
    kwargs: dict[str, Any] = {
        "future": True,
        "connect_args": {"check_same_thread": False, "timeout": 30},
    }
    if database in ("", ":memory:"):
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only unit (read_unit) reads a snapshot and needs no write lock: in
        # WAL mode it then neither waits for a writer nor makes one wait.
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded values after commit (results are built before closing)."""
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


READ_ONLY_OPTION = "bankbot_read_only"


def read_unit(factory: sessionmaker, work: Callable[[Session], T]) -> T:
    """Run ``work``, which only reads, in a transaction that is always rolled back.

    On SQLite it starts with a plain (deferred) ``BEGIN`` instead of ``BEGIN
    IMMEDIATE``, so that pages reading the database do not queue behind each other
    or behind writers.
    """
    bind = factory.kw["bind"].execution_options(**{READ_ONLY_OPTION: True})
    with factory(bind=bind) as session:
        try:
            return work(session)
        finally:
            session.rollback()


async def read_unit_async(
    factory: sessionmaker, executor: Executor | None, work: Callable[[Session], T]
) -> T:
    """:func:`read_unit` on a worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, lambda: read_unit(factory, work))


def run_unit(factory: sessionmaker, work: Callable[[Session], T], *, retries: int = 0) -> T:
    """Run ``work`` in one transaction: commit on success, roll back on any exception.

    With ``retries`` an ``IntegrityError`` (a lost race on a unique key) reruns the
    whole unit in a fresh transaction, where the winner's row is visible.
    """
    attempt = 0
    while True:
        with factory() as session:
            try:
                result = work(session)
                session.commit()
                return result
            except IntegrityError:
                session.rollback()
                if attempt >= retries:
                    raise
                attempt += 1
            except BaseException:
                session.rollback()
                raise


async def run_unit_async(
    factory: sessionmaker,
    executor: Executor | None,
    work: Callable[[Session], T],
    *,
    retries: int = 0,
) -> T:
    """:func:`run_unit` on a worker thread so the event loop never blocks on the database."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, lambda: run_unit(factory, work, retries=retries))
