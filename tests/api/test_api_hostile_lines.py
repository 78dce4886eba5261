"""Hostile lines (NaN, Infinity, negative numbers, strings for numbers, torn and glued lines, duplicates, …)
mixed into the records: every total the REST API and ``/metrics`` give stays the good records' own, and
``/health`` counts the refused lines as corrupt."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ai_usage_monitor.api import create_app
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.testing.hostile import HOSTILE_KINDS, hostile_chunk
from tests.api.conftest import boundary_records, make_record, settings_for
from tests.api.helpers import SHANGHAI, aggregate, day_window, local_client, month_window, settle_clock
from tests.support.records import record_file

approx = pytest.approx


@dataclass
class Hostile:
    records: list[UsageRecord]
    corrupt: int
    client: TestClient


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    root = tmp_path_factory.mktemp("hostile")
    now = settle_clock(margin=60.0)
    records = boundary_records(now) + [
        make_record(now.timestamp() - 60 - i, model="qwen-max") for i in range(len(HOSTILE_KINDS))
    ]
    settings = settings_for(root)
    settings.records_dir.mkdir(parents=True)
    corrupt = 0
    for i, record in enumerate(records):
        data, bad = hostile_chunk(HOSTILE_KINDS[i % len(HOSTILE_KINDS)], record)
        corrupt += bad
        with record_file(settings.records_dir, SHANGHAI, record.timestamp).open("ab") as f:
            f.write(data)
    with local_client(create_app(settings)) as client:
        yield Hostile(records, corrupt, client)


def assert_total(body: dict, expected: dict) -> None:
    assert body["total_calls"] == expected["calls"]
    assert body["total_tokens"] == expected["total_tokens"]
    assert math.isfinite(body["total_cost"])
    assert body["total_cost"] == approx(expected["cost"], rel=1e-9, abs=1e-15)


def test_health_counts_every_refused_line(hostile: Hostile) -> None:
    health = hostile.client.get("/health").json()
    assert (health["records_indexed"], health["corrupt_lines"]) == (len(hostile.records), hostile.corrupt)


def test_day_and_month_totals_are_the_good_records_own(hostile: Hostile) -> None:
    today = settle_clock().date()
    body = hostile.client.get("/api/ai_usage/stats/daily").json()
    assert_total(body, aggregate(hostile.records, day_window(today)))
    body = hostile.client.get("/api/ai_usage/stats/monthly").json()
    assert_total(body, aggregate(hostile.records, month_window(today.year, today.month)))
    body = hostile.client.get("/api/ai_usage/stats/monthly", params={"year": 2025, "month": 9}).json()
    assert_total(body, aggregate(hostile.records, month_window(2025, 9)))


def test_cost_trend_has_no_null_day(hostile: Hostile) -> None:
    body = hostile.client.get("/api/ai_usage/cost_trend", params={"days": 30}).json()
    assert len(body["data"]) == 30
    for row in body["data"]:
        day = date.fromisoformat(row["date"])
        expected = aggregate(hostile.records, day_window(day))
        assert row["cost"] == approx(expected["cost"], rel=1e-9, abs=1e-15), day
        assert (row["calls"], row["tokens"]) == (expected["calls"], expected["total_tokens"]), day


def test_metrics_cost_counter_stays_finite_and_exact(hostile: Hostile) -> None:
    text = hostile.client.get("/metrics").text
    found = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}
    costs = [
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "ai_usage_cost_total"
    ]
    assert all(math.isfinite(v) for v in costs)
    assert sum(costs) == approx(sum(r.cost for r in hostile.records), rel=1e-9)
    assert found["ai_usage_store_corrupt_lines_total"].value == hostile.corrupt
