"""Business rules of the sandbox bank, one module per route group.

Every public function takes an open SQLAlchemy ``Session`` and a :class:`Ctx` and returns
plain Python data (dicts, lists, ``Decimal``, ``datetime``); it raises
:mod:`bot.bank.errors` exceptions to refuse. The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ...settings import Settings

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Ctx:
    """What one unit of work knows besides the database: settings and the time it runs."""

    settings: Settings
    now: datetime


def money(value: Decimal | int | str) -> Decimal:
    """Quantize to cents."""
    return Decimal(value).quantize(CENT)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def sortable_id(prefix: str) -> str:
    """A random id that sorts by creation (wall-clock nanoseconds first), e.g. ``TX18...``."""
    return f"{prefix}{time.time_ns():016X}{secrets.token_hex(2).upper()}"


def new_id(prefix: str, size: int = 16) -> str:
    """A random public id such as ``TX3F9A...``."""
    return prefix + uuid.uuid4().hex[:size].upper()
