"""Helpers for tests and demos: settings on a temporary database, seeding, binding.

Used by tests/bot/bank and tests/bot/services; nothing here runs at import time.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from ..settings import Settings
from .clock import CST
from .db import make_engine
from .seed import seed_database

ZHANG_PHONE = "13800138000"
LI_PHONE = "13900139000"

# A Wednesday morning, inside every branch's opening hours.
TEST_START = datetime(2026, 11, 18, 10, 0, tzinfo=CST)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_settings(db_path: Path, **overrides: Any) -> Settings:
    """Sandbox settings on the SQLite file ``db_path`` (fields overridable)."""
    base = Settings.from_env(
        {
            "BANKBOT_PROFILE": "sandbox",
            "BANKBOT_DATA_DIR": str(db_path.parent),
            "BANK_DB_URL": sqlite_url(db_path),
        }
    )
    return dataclasses.replace(base, **overrides)


def seed_file(db_path: Path, now: datetime = TEST_START) -> None:
    """Create and seed a SQLite bank database at ``db_path``."""
    engine = make_engine(sqlite_url(db_path))
    try:
        seed_database(engine, now)
    finally:
        engine.dispose()


def copy_database(template: Path, target: Path) -> Path:
    """A fresh copy of a seeded template (much faster than seeding again)."""
    shutil.copyfile(template, target)
    return target
