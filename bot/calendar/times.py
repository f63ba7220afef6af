"""Local wall-clock times of a person as the naive UTC the store keeps, and quiet hours.

`ZoneInfo` does the arithmetic on the wall clock: 18:00 in London is 18:00 UTC before the clocks go forward in
late March and 17:00 UTC after; a time the clocks skip (01:30 on that night) is read as the time after the gap.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def clock(value: str) -> time:
    """'19:00' → time(19, 0); ValueError otherwise."""
    hours, sep, minutes = value.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(f"{value!r} is not a time of day HH:MM")
    return time(int(hours), int(minutes))


def to_utc(day: date, at: time, timezone: str) -> datetime:
    """The naive UTC instant of wall-clock `at` on local `day` in `timezone`."""
    local = datetime.combine(day, at).replace(tzinfo=ZoneInfo(timezone))
    # a skipped wall time (DST gap) round-trips to the instant after the gap
    return local.astimezone(UTC).replace(tzinfo=None)


def local(now_utc: datetime, timezone: str) -> datetime:
    """Naive UTC → the aware local time."""
    return now_utc.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))


def in_quiet_hours(at: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end  # over midnight: 21:30-08:00


def after_quiet_hours(due_utc: datetime, timezone: str, start: str, end: str) -> datetime:
    """`due_utc`, or the end of the quiet hours (local) it falls in."""
    begin, finish = clock(start), clock(end)
    here = local(due_utc, timezone)
    if not in_quiet_hours(here.time(), begin, finish):
        return due_utc
    day = here.date() if here.time() < finish else here.date() + timedelta(days=1)
    return to_utc(day, finish, timezone)
