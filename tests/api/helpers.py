"""Helpers for the API tests: time windows, a settled clock, and the hand aggregation that every endpoint's
answer is compared with (computed here from the records, independently of the store)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ai_usage_monitor.records import UsageRecord

__all__ = [
    "LOCAL_URL",
    "SHANGHAI",
    "Window",
    "aggregate",
    "day_window",
    "hour_window",
    "last_days_window",
    "local_client",
    "month_window",
    "rank",
    "settle_clock",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The Host a test client sends: a loopback name the server's Host check allows (``testserver`` is not).
LOCAL_URL = "http://127.0.0.1"


def local_client(app: FastAPI) -> TestClient:
    """A test client of ``app`` that calls it as ``http://127.0.0.1``, as a local browser would."""
    return TestClient(app, base_url=LOCAL_URL)


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def __contains__(self, ts: float) -> bool:
        return self.start <= ts < self.end


def _midnight(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def day_window(day: date, tz: tzinfo = SHANGHAI) -> Window:
    return Window(_midnight(day, tz), _midnight(day + timedelta(days=1), tz))


def last_days_window(today: date, days: int, tz: tzinfo = SHANGHAI) -> Window:
    return Window(_midnight(today - timedelta(days=days - 1), tz), _midnight(today + timedelta(days=1), tz))


def hour_window(hour_start: datetime) -> Window:
    return Window(hour_start.timestamp(), (hour_start + timedelta(hours=1)).timestamp())


def month_window(year: int, month: int, tz: tzinfo = SHANGHAI) -> Window:
    following = date(year + month // 12, month % 12 + 1, 1)
    return Window(_midnight(date(year, month, 1), tz), _midnight(following, tz))


def settle_clock(tz: tzinfo = SHANGHAI, margin: float = 5.0) -> datetime:
    """Now, after waiting out the last seconds of a clock hour, so a test never straddles one."""
    now = datetime.now(tz)
    to_next_hour = 3600 - (now.minute * 60 + now.second + now.microsecond / 1e6)
    if to_next_hour < margin:
        time.sleep(to_next_hour + 0.05)
        now = datetime.now(tz)
    return now


def _tokens(value: int | None) -> int:
    return value or 0


def _row() -> dict[str, Any]:
    return {"calls": 0, "successes": 0, "total_tokens": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0}


def aggregate(records: Sequence[UsageRecord], window: Window | None = None, **filters: Any) -> dict[str, Any]:
    """Totals over the records in ``window`` matching ``filters``: what a summary endpoint must say.
    Records without a model or function are broken down under ``unknown``."""
    chosen = [
        r
        for r in records
        if (window is None or r.timestamp in window) and all(getattr(r, k) == v for k, v in filters.items())
    ]
    by: dict[str, dict[str, dict[str, Any]]] = {"model": defaultdict(_row), "function": defaultdict(_row)}
    for r in chosen:
        for dim in ("model", "function"):
            row = by[dim][getattr(r, dim) or "unknown"]
            row["calls"] += 1
            row["successes"] += int(r.success)
            row["total_tokens"] += _tokens(r.total_tokens)
            row["input_tokens"] += _tokens(r.input_tokens)
            row["output_tokens"] += _tokens(r.output_tokens)
            row["cost"] += r.cost
    calls = len(chosen)
    successes = sum(r.success for r in chosen)
    return {
        "calls": calls,
        "successes": successes,
        "success_rate": 100.0 if calls == 0 else successes * 100.0 / calls,
        "total_tokens": sum(_tokens(r.total_tokens) for r in chosen),
        "input_tokens": sum(_tokens(r.input_tokens) for r in chosen),
        "output_tokens": sum(_tokens(r.output_tokens) for r in chosen),
        "cached_tokens": sum(_tokens(r.cached_tokens) for r in chosen),
        "reasoning_tokens": sum(_tokens(r.reasoning_tokens) for r in chosen),
        "cost": sum(r.cost for r in chosen),
        "avg_duration_ms": sum(r.duration_ms for r in chosen) / calls if calls else 0.0,
        "unpriced_calls": sum(not r.priced and not r.usage_missing for r in chosen),
        "by_model": {k: dict(v) for k, v in by["model"].items()},
        "by_function": {k: dict(v) for k, v in by["function"].items()},
        "records": chosen,
    }


def rank(
    records: Sequence[UsageRecord], dimension: str, window: Window | None, limit: int
) -> list[dict[str, Any]]:
    """Top values of ``dimension`` by cost, highest first (then most calls, then name), nulls left out."""
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"calls": 0, "tokens": 0, "cost": 0.0})
    for r in records:
        value = getattr(r, dimension)
        if value is None or (window is not None and r.timestamp not in window):
            continue
        row = rows[value]
        row["calls"] += 1
        row["tokens"] += _tokens(r.total_tokens)
        row["cost"] += r.cost
    ordered = sorted(rows.items(), key=lambda item: (-item[1]["cost"], -item[1]["calls"], item[0]))
    return [{dimension: value, **row} for value, row in ordered[:limit]]
