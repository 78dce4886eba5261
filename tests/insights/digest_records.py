"""A fixed record set for the digest tests, placed around a chosen send day, and the hand computation of
every figure the digest shows (from the records, independently of the store)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.api.conftest import make_record
from tests.api.helpers import SHANGHAI

__all__ = ["Hand", "at", "digest_records", "digest_settings", "hand"]


def at(day: date, hour: int, minute: int = 10, second: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI).timestamp()


def digest_records(send_day: date) -> list[UsageRecord]:
    """Yesterday: four models, functions and anchors (Chinese names) and a failed call; the 6 days before
    it, the same day a week earlier and the 6 days before that; one call 40 days back."""
    day = send_day - timedelta(days=1)
    records = [
        make_record(at(day, 10), model="qwen-plus", function="实时分析", anchor_id="主播甲", cost=0.30),
        make_record(at(day, 14), model="qwen-plus", function="实时分析", anchor_id="主播甲", cost=0.30),
        make_record(at(day, 20), model="qwen-max", function="话术生成", anchor_id="主播乙", cost=0.50),
        make_record(at(day, 21), model="qwen-turbo", function="摘要", anchor_id="主播丙", cost=0.05),
        make_record(at(day, 22), model="qwen-flash", function="审核", anchor_id="主播丁", cost=0.01),
        make_record(
            at(day, 23), model="qwen-max", function="话术生成", anchor_id="主播乙", cost=0.02, success=False
        ),
    ]
    for back in range(1, 7):
        records.append(make_record(at(day - timedelta(days=back), 9), model="qwen-plus", cost=0.11))
    records.append(make_record(at(day - timedelta(days=7), 9), model="qwen-plus", cost=0.40))
    for back in range(8, 14):
        records.append(make_record(at(day - timedelta(days=back), 9), model="qwen-max", cost=0.05))
    records.append(make_record(at(day - timedelta(days=40), 9), model="qwen-max", cost=1.00))
    return records


def digest_settings(root: Path, **overrides: Any) -> Settings:
    """Settings of a digest test: its own folders, Asia/Shanghai, CNY, nothing from the environment."""
    values: dict[str, Any] = {
        "records_dir": root / "records",
        "index_dir": root / "index",
        "timezone": "Asia/Shanghai",
        "currency": "CNY",
        "api_token": None,
        "pricing_file": None,
        "budgets": [],
    }
    values.update(overrides)
    return Settings(**values)


@dataclass(frozen=True)
class Hand:
    """The digest's figures for the days ``first``..``last``, computed from the records."""

    spent: float
    calls: int
    previous: float
    month_to_date: float
    models: list[tuple[str, float, int]]
    functions: list[tuple[str, float, int]]
    anchors: list[tuple[str, float, int]]


def hand(records: list[UsageRecord], first: date, last: date) -> Hand:
    def local(r: UsageRecord) -> date:
        return datetime.fromtimestamp(r.timestamp, SHANGHAI).date()

    def within(lo: date, hi: date) -> list[UsageRecord]:
        return [r for r in records if lo <= local(r) <= hi]

    def top(field: Callable[[UsageRecord], str | None]) -> list[tuple[str, float, int]]:
        cost: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        for r in within(first, last):
            name = field(r)
            if name is not None:
                cost[name] += r.cost or 0.0
                calls[name] += 1
        ranked = sorted(cost, key=lambda n: -cost[n])[:3]
        return [(n, cost[n], calls[n]) for n in ranked]

    week = timedelta(days=7)
    current = within(first, last)
    return Hand(
        spent=sum(r.cost or 0.0 for r in current),
        calls=len(current),
        previous=sum(r.cost or 0.0 for r in within(first - week, last - week)),
        month_to_date=sum(r.cost or 0.0 for r in within(last.replace(day=1), last)),
        models=top(lambda r: r.model),
        functions=top(lambda r: r.function),
        anchors=top(lambda r: r.anchor_id),
    )
