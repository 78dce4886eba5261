"""Hours, days and months of the configured zone, across DST changes and in a non-UTC zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.store.periods import (
    day_range,
    hour_range,
    last_days,
    month_range,
    to_epoch,
    utc_offset_segments,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")


def at(tz: ZoneInfo, *args: int, fold: int = 0) -> float:
    return datetime(*args, tzinfo=tz, fold=fold).timestamp()  # type: ignore[misc]


def test_shanghai_day_starts_at_local_midnight() -> None:
    rng, day = day_range(SHANGHAI, 0, at(SHANGHAI, 2025, 10, 26, 0, 30))
    assert day == date(2025, 10, 26)
    assert (
        rng.start
        == at(SHANGHAI, 2025, 10, 26)
        == datetime(2025, 10, 25, 16, tzinfo=ZoneInfo("UTC")).timestamp()
    )
    assert rng.end - rng.start == 86400


def test_new_york_dst_days_are_23_and_25_hours() -> None:
    spring, day = day_range(NEW_YORK, 0, at(NEW_YORK, 2025, 3, 9, 12))
    assert day == date(2025, 3, 9) and spring.end - spring.start == 23 * 3600
    fall, _ = day_range(NEW_YORK, 1, at(NEW_YORK, 2025, 11, 3, 12))
    assert fall.end - fall.start == 25 * 3600


def test_hours_ago_counts_the_repeated_fall_back_hour_twice() -> None:
    now = at(NEW_YORK, 2025, 11, 2, 2, 15)  # 02:15 EST, after 01:00–02:00 happened twice
    current = hour_range(NEW_YORK, 0, now)
    assert current.start == at(NEW_YORK, 2025, 11, 2, 2) and current.end - current.start == 3600
    second = hour_range(NEW_YORK, 1, now)
    first = hour_range(NEW_YORK, 2, now)
    assert second.start == at(NEW_YORK, 2025, 11, 2, 1, fold=1) and second.end == current.start
    assert first.start == at(NEW_YORK, 2025, 11, 2, 1, fold=0) and first.end == second.start
    assert hour_range(NEW_YORK, 3, now).start == at(NEW_YORK, 2025, 11, 2, 0)


def test_half_hour_zone_hours_start_at_half_past_utc() -> None:
    rng = hour_range(KOLKATA, 0, at(KOLKATA, 2025, 10, 26, 14, 59))
    assert rng.start == at(KOLKATA, 2025, 10, 26, 14)
    assert datetime.fromtimestamp(rng.start, ZoneInfo("UTC")).minute == 30


def test_month_range_and_last_days() -> None:
    oct_ = month_range(NEW_YORK, 2025, 10)
    assert oct_.start == at(NEW_YORK, 2025, 10, 1) and oct_.end == at(NEW_YORK, 2025, 11, 1)
    dec = month_range(SHANGHAI, 2025, 12)
    assert dec.end == at(SHANGHAI, 2026, 1, 1)
    rng, days = last_days(SHANGHAI, 7, at(SHANGHAI, 2025, 10, 26, 23, 59))
    assert days == [date(2025, 10, d) for d in range(20, 27)]
    assert rng.start == at(SHANGHAI, 2025, 10, 20) and rng.end == at(SHANGHAI, 2025, 10, 27)
    with pytest.raises(ValueError, match="month"):
        month_range(SHANGHAI, 2025, 13)
    with pytest.raises(ValueError, match="days"):
        last_days(SHANGHAI, 0)


def test_offset_segments_find_the_exact_transition() -> None:
    start, end = at(NEW_YORK, 2025, 10, 30), at(NEW_YORK, 2025, 11, 5)
    segments = utc_offset_segments(NEW_YORK, start + 0.25, end)
    assert [o for _, o in segments] == [-4 * 3600, -5 * 3600]
    assert segments[1][0] == at(NEW_YORK, 2025, 11, 2, 1, fold=1)
    assert utc_offset_segments(SHANGHAI, start, end) == [(start, 8 * 3600)]


def test_to_epoch_rejects_naive_datetimes() -> None:
    assert to_epoch(12.5) == 12.5
    with pytest.raises(ValueError, match="naive"):
        to_epoch(datetime(2025, 1, 1))
