"""Bank time: China Standard Time, read through an injectable ``now()`` callable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")

Clock = Callable[[], datetime]


def system_now() -> datetime:
    """The real current time as an aware datetime in China Standard Time."""
    return datetime.now(CST)


class FakeClock:
    """A settable clock for tests and demos: ``clock()`` returns the current fake time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=CST)
        self._now = start.astimezone(CST)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        """Move time forward by ``seconds`` (plus any ``timedelta`` keyword arguments)."""
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (naive values are taken as CST)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=CST)
        self._now = when.astimezone(CST)
