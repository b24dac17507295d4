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


class SandboxClock:
    """Real time shifted by a settable offset: it keeps running, and the sandbox's
    ``/sandbox/clock`` route (tests, demos) can jump it or move it forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        if start is not None:
            self.set(start)

    def __call__(self) -> datetime:
        return system_now() + self._offset

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._offset += timedelta(seconds=seconds, **kwargs)
        return self()

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=CST)
        self._offset = when.astimezone(CST) - system_now()
