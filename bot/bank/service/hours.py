"""Opening hours of branches: whether one is open now, and its open periods."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from ..models import Branch


def day_hours(branch: Branch, day: datetime) -> tuple[str, str] | None:
    """``("09:00", "17:00")`` on the day of ``day``, or None when closed all day."""
    if day.weekday() >= 5:
        if branch.weekend_open and branch.weekend_close:
            return branch.weekend_open, branch.weekend_close
        return None
    return branch.weekday_open, branch.weekday_close


def at(day: datetime, hhmm: str) -> datetime:
    """``hhmm`` on the date of ``day`` (same time zone)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day.date(), time(hour, minute), day.tzinfo)


def opening_state(branch: Branch, now: datetime) -> dict[str, Any]:
    """``open_now`` plus ``closes_at`` (when open) or ``opens_at`` (when closed)."""
    today = day_hours(branch, now)
    if today and at(now, today[0]) <= now < at(now, today[1]):
        return {"open_now": True, "opens_at": None, "closes_at": at(now, today[1])}
    if today and now < at(now, today[0]):
        return {"open_now": False, "opens_at": at(now, today[0]), "closes_at": None}
    for days in range(1, 8):
        day = now + timedelta(days=days)
        hours = day_hours(branch, day)
        if hours:
            return {"open_now": False, "opens_at": at(day, hours[0]), "closes_at": None}
    return {"open_now": False, "opens_at": None, "closes_at": None}  # pragma: no cover


def open_periods(branch: Branch, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The ``(opens, closes)`` periods that overlap ``[start, end]``, oldest first (one
    opening exactly at ``end`` counts, so a queue read at opening time starts afresh)."""
    periods: list[tuple[datetime, datetime]] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        hours = day_hours(branch, day)
        if hours:
            opens, closes = at(day, hours[0]), at(day, hours[1])
            if closes > start and opens <= end:
                periods.append((opens, closes))
        day += timedelta(days=1)
    return periods
