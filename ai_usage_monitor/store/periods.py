"""Clock hours, calendar days and months of the configured time zone as Unix-second ranges (DST-correct).

Every window the API and the Python queries name ("current hour", "today", "the last 7 days") is turned
into a half-open ``TimeRange`` here, so the queries only ever compare raw timestamps.
"""

from __future__ import annotations

import functools
import math
import time as _time
from datetime import date, datetime, time, timedelta, tzinfo

from ai_usage_monitor.store.queries import TimeRange

__all__ = [
    "Instant",
    "day_range",
    "day_start",
    "hour_range",
    "last_days",
    "month_range",
    "to_epoch",
    "utc_offset_segments",
]

#: A moment given as Unix seconds or as a time-zone-aware ``datetime``; ``None`` means now.
Instant = float | datetime | None

_PROBE_SECONDS = 3600


def to_epoch(now: Instant = None) -> float:
    """``now`` as Unix seconds (the current time when ``None``)."""
    if now is None:
        return _time.time()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous here: give one with a tzinfo, or Unix seconds")
        return now.timestamp()
    return float(now)


def _hour_start(tz: tzinfo, t: float) -> float:
    local = datetime.fromtimestamp(t, tz)
    return local.replace(minute=0, second=0, microsecond=0).timestamp()


def day_start(tz: tzinfo, day: date) -> float:
    """The first instant of ``day`` in ``tz`` (fold 0 lands on the gap's end when midnight is skipped)."""
    return datetime.combine(day, time(0), tzinfo=tz).timestamp()


def hour_range(tz: tzinfo, hours_ago: int = 0, now: Instant = None) -> TimeRange:
    """The clock hour of ``tz`` that is ``hours_ago`` hours before the one holding ``now``.

    Hours are counted as the clock shows them, so the repeated hour of a DST fall-back counts twice and the
    skipped hour of a spring-forward not at all.
    """
    if hours_ago < 0:
        raise ValueError("hours_ago must be >= 0")
    t = to_epoch(now)
    start = _hour_start(tz, t)
    end = _hour_start(tz, start + 3600.5)
    for _ in range(hours_ago):
        end = start
        start = _hour_start(tz, start - 0.5)
    return TimeRange(start, end)


def day_range(tz: tzinfo, days_ago: int = 0, now: Instant = None) -> tuple[TimeRange, date]:
    """The calendar day of ``tz`` ``days_ago`` days before today, and its date."""
    if days_ago < 0:
        raise ValueError("days_ago must be >= 0")
    today = datetime.fromtimestamp(to_epoch(now), tz).date()
    day = today - timedelta(days=days_ago)
    return TimeRange(day_start(tz, day), day_start(tz, day + timedelta(days=1))), day


def month_range(tz: tzinfo, year: int, month: int) -> TimeRange:
    """The calendar month ``year``-``month`` of ``tz``."""
    if not 1 <= month <= 12:
        raise ValueError("month must be 1..12")
    first = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return TimeRange(day_start(tz, first), day_start(tz, following))


def last_days(tz: tzinfo, days: int, now: Instant = None) -> tuple[TimeRange, list[date]]:
    """The ``days`` calendar days of ``tz`` ending today (today included), oldest first."""
    if days < 1:
        raise ValueError("days must be >= 1")
    today = datetime.fromtimestamp(to_epoch(now), tz).date()
    dates = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return TimeRange(day_start(tz, dates[0]), day_start(tz, today + timedelta(days=1))), dates


def _offset(tz: tzinfo, t: float) -> int:
    delta = datetime.fromtimestamp(t, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def utc_offset_segments(tz: tzinfo, start: float, end: float) -> list[tuple[float, int]]:
    """``[(from, offset_seconds), …]`` covering ``[start, end)``: the UTC offset of ``tz`` is ``offset``
    from each ``from`` until the next one. Lets SQL compute local dates with plain arithmetic."""
    return list(_segments(tz, start, end))


@functools.lru_cache(maxsize=64)  # the dashboard asks for the same few ranges, probed hour by hour, each time
def _segments(tz: tzinfo, start: float, end: float) -> tuple[tuple[float, int], ...]:
    segments = [(start, _offset(tz, start))]
    probe = start
    while probe < end:
        nxt = min(probe + _PROBE_SECONDS, end)
        current = segments[-1][1]
        if _offset(tz, nxt) != current:
            # offset(lo) == current != offset(hi); zones change offset on whole seconds.
            lo, hi = math.floor(probe), math.ceil(nxt)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(tz, mid) == current:
                    lo = mid
                else:
                    hi = mid
            segments.append((float(hi), _offset(tz, hi)))
        probe = nxt
    return tuple(segments)
