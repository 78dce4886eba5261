"""Every summary endpoint against a hand aggregation of the records the test wrote (Asia/Shanghai)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Dataset
from tests.api.helpers import (
    SHANGHAI,
    Window,
    aggregate,
    day_window,
    hour_window,
    last_days_window,
    month_window,
    rank,
)

approx = pytest.approx


def assert_breakdown(actual: dict[str, Any], expected: dict[str, dict[str, Any]]) -> None:
    assert set(actual) == set(expected)
    for name, row in expected.items():
        assert actual[name]["calls"] == row["calls"], name
        assert actual[name]["total_tokens"] == row["total_tokens"], name
        assert actual[name]["cost"] == approx(row["cost"], rel=1e-9, abs=1e-15), name


def assert_period(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert body["total_calls"] == expected["calls"]
    assert body["total_tokens"] == expected["total_tokens"]
    assert body["total_cost"] == approx(expected["cost"], rel=1e-9, abs=1e-15)
    assert body["success_rate"] == approx(expected["success_rate"])
    for key in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "unpriced_calls"):
        assert body[key] == expected[key], key
    assert (body["successes"], body["failures"]) == (
        expected["successes"],
        expected["calls"] - expected["successes"],
    )
    assert body["avg_duration_ms"] == approx(expected["avg_duration_ms"])
    assert_breakdown(body["by_model"], expected["by_model"])
    assert_breakdown(body["by_function"], expected["by_function"])


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, SHANGHAI).isoformat()


def hour_start(ds: Dataset, hours_ago: int = 0) -> Any:
    return ds.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


def test_current_hour_and_today(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/stats/current").json()
    hour = aggregate(dataset.records, hour_window(hour_start(dataset)))
    assert hour["calls"] == 2 if dataset.now.hour else hour["calls"] >= 2
    assert body["current_hour"] == {
        "calls": hour["calls"],
        "tokens": hour["total_tokens"],
        "cost": approx(hour["cost"]),
        "success_rate": approx(hour["success_rate"]),
    }
    today = aggregate(dataset.records, day_window(dataset.now.date()))
    assert body["today"]["calls"] == today["calls"]
    assert body["today"]["tokens"] == today["total_tokens"]
    assert body["today"]["cost"] == approx(today["cost"])
    assert_breakdown(body["today"]["by_model"], today["by_model"])
    assert_breakdown(body["today"]["by_function"], today["by_function"])
    assert "话术生成" in body["today"]["by_function"]


@pytest.mark.parametrize("hours_ago", [0, 1, 2, 30])
def test_hourly(dataset: Dataset, hours_ago: int) -> None:
    body = dataset.client.get("/api/ai_usage/stats/hourly", params={"hours_ago": hours_ago}).json()
    start = hour_start(dataset, hours_ago)
    window = hour_window(start)
    assert body["period"] == "hourly"
    assert body["hour"] == start.isoformat()
    assert (body["start"], body["end"]) == (iso(window.start), iso(window.end))
    assert_period(body, aggregate(dataset.records, window))


@pytest.mark.parametrize("days_ago", [0, 1, 2, 3, 6, 7, 40])
def test_daily(dataset: Dataset, days_ago: int) -> None:
    body = dataset.client.get("/api/ai_usage/stats/daily", params={"days_ago": days_ago}).json()
    day = dataset.now.date() - timedelta(days=days_ago)
    window = day_window(day)
    assert body["period"] == "daily"
    assert body["date"] == day.isoformat()
    assert (body["start"], body["end"]) == (iso(window.start), iso(window.end))
    assert body["start"].endswith("T00:00:00+08:00")
    expected = aggregate(dataset.records, window)
    assert expected["calls"] > 0
    assert_period(body, expected)


def test_daily_defaults_to_today(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/stats/daily").json()
    assert body["date"] == dataset.now.date().isoformat()
    assert_period(body, aggregate(dataset.records, day_window(dataset.now.date())))


def test_monthly_boundaries_in_shanghai(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/stats/monthly", params={"year": 2025, "month": 9}).json()
    assert (body["period"], body["year"], body["month"]) == ("monthly", 2025, 9)
    assert (body["start"], body["end"]) == ("2025-09-01T00:00:00+08:00", "2025-10-01T00:00:00+08:00")
    expected = aggregate(dataset.records, month_window(2025, 9))
    assert expected["calls"] == 2
    assert expected["cost"] == 6.0
    assert_period(body, expected)


def test_monthly_defaults_to_this_month(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/stats/monthly").json()
    assert (body["year"], body["month"]) == (dataset.now.year, dataset.now.month)
    assert_period(body, aggregate(dataset.records, month_window(dataset.now.year, dataset.now.month)))


@pytest.mark.parametrize("session_id", ["session_456", "session_789", "no-such-session"])
def test_session(dataset: Dataset, session_id: str) -> None:
    body = dataset.client.get(f"/api/ai_usage/stats/session/{session_id}").json()
    assert (body["period"], body["session_id"]) == ("session", session_id)
    expected = aggregate(dataset.records, None, session_id=session_id)
    assert_period(body, expected)
    stamps = [r.timestamp for r in expected["records"]]
    assert (body["start"], body["end"]) == ((iso(min(stamps)), iso(max(stamps))) if stamps else (None, None))


@pytest.mark.parametrize("days", [1, 7, 30, 366])
def test_cost_trend_has_every_day(dataset: Dataset, days: int) -> None:
    body = dataset.client.get("/api/ai_usage/cost_trend", params={"days": days}).json()
    today = dataset.now.date()
    expected_days = [today - timedelta(days=days - 1 - i) for i in range(days)]
    assert body["period_days"] == days
    assert [row["date"] for row in body["data"]] == [d.isoformat() for d in expected_days]
    for row, day in zip(body["data"], expected_days, strict=True):
        expected = aggregate(dataset.records, day_window(day))
        assert row["cost"] == approx(expected["cost"], rel=1e-12, abs=1e-15), day
        assert row["calls"] == expected["calls"], day
        assert row["tokens"] == expected["total_tokens"], day


def test_cost_trend_keeps_empty_days_as_zero(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/cost_trend", params={"days": 7}).json()
    by_day = {row["date"]: row for row in body["data"]}
    for days_ago in (4, 5):
        empty = (dataset.now.date() - timedelta(days=days_ago)).isoformat()
        assert by_day[empty] == {"date": empty, "cost": 0.0, "calls": 0, "tokens": 0}


RANKINGS = [
    ("top_users", "user_id"),
    ("top_anchors", "anchor_id"),
    ("top_functions", "function"),
    ("top_models", "model"),
]


@pytest.mark.parametrize(("route", "dimension"), RANKINGS)
@pytest.mark.parametrize(("limit", "days"), [(10, 7), (2, 1), (100, 90)])
def test_rankings(dataset: Dataset, route: str, dimension: str, limit: int, days: int) -> None:
    body = dataset.client.get(f"/api/ai_usage/{route}", params={"limit": limit, "days": days}).json()
    window = last_days_window(dataset.now.date(), days)
    expected = rank(dataset.records, dimension, window, limit)
    assert body["period_days"] == days
    rows = body[route]
    assert [row[dimension] for row in rows] == [row[dimension] for row in expected]
    for row, want in zip(rows, expected, strict=True):
        assert (row["calls"], row["tokens"]) == (want["calls"], want["tokens"])
        assert row["cost"] == approx(want["cost"])


def test_top_users_default_is_ten_over_seven_days(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/top_users").json()
    assert body["period_days"] == 7
    expected = rank(dataset.records, "user_id", last_days_window(dataset.now.date(), 7), 10)
    assert [row["user_id"] for row in body["top_users"]] == [row["user_id"] for row in expected]
    assert "user_006" in [row["user_id"] for row in body["top_users"]]


def test_unpriced_models(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/unpriced_models", params={"days": 30}).json()
    window = last_days_window(dataset.now.date(), 30)
    unpriced = [r for r in dataset.records if not r.priced and not r.usage_missing and r.timestamp in window]
    expected = {(r.provider, r.model): (1, r.total_tokens or 0, r.timestamp) for r in unpriced}
    got = {
        (row["provider"], row["model"]): (row["calls"], row["tokens"], row["last_seen"])
        for row in body["unpriced_models"]
    }
    assert body["period_days"] == 30
    assert got == {key: (calls, tokens, approx(ts)) for key, (calls, tokens, ts) in expected.items()}


def test_recent_errors(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/recent_errors", params={"limit": 5}).json()
    failed = sorted((r for r in dataset.records if not r.success), key=lambda r: -r.timestamp)
    assert len(body["recent_errors"]) == len(failed) == 1
    row, want = body["recent_errors"][0], failed[0]
    assert row["timestamp"] == approx(want.timestamp)
    for key in ("provider", "model", "function", "user_id", "anchor_id", "error_type", "error_msg"):
        assert row[key] == getattr(want, key), key


def test_latency_by_model(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/latency", params={"days": 7}).json()
    window = last_days_window(dataset.now.date(), 7)
    durations: dict[str, list[float]] = {}
    for r in dataset.records:
        if r.timestamp in window:
            durations.setdefault(r.model, []).append(r.duration_ms)
    assert body["period_days"] == 7
    rows = {row["model"]: row for row in body["latency_by_model"]}
    assert set(rows) == set(durations)
    for model, values in durations.items():
        row = rows[model]
        assert row["calls"] == len(values)
        assert row["avg_ms"] == approx(sum(values) / len(values))
        assert min(values) <= row["p50_ms"] <= row["p95_ms"] <= max(values)
        if len(values) == 1:
            assert row["p50_ms"] == row["p95_ms"] == approx(values[0])
    ordered = [row["calls"] for row in body["latency_by_model"]]
    assert ordered == sorted(ordered, reverse=True)


def test_windows_are_what_the_test_thinks(dataset: Dataset) -> None:
    """The fixture really straddles the boundaries it claims to (guards the other tests' meaning)."""
    today = dataset.now.date()
    seven = last_days_window(today, 7)
    stamps = sorted(r.timestamp for r in dataset.records)
    assert any(ts == seven.start for ts in stamps)
    assert any(ts == seven.start - 0.001 for ts in stamps)
    assert Window(seven.start, seven.end) == last_days_window(today, 7)
    assert month_window(2025, 12) == Window(
        day_window(date(2025, 12, 1)).start, day_window(date(2026, 1, 1)).start
    )


def test_unpriced_calls_agree_with_unpriced_models(dataset: Dataset) -> None:
    """A call that returned no usage has nothing to price: neither list nor count holds it."""
    for key in ("7d", "30d"):
        body = dataset.client.get("/api/ai_usage/dashboard", params={"range": key}).json()
        listed = sum(row["calls"] for row in body["unpriced_models"])
        assert any(r.usage_missing and not r.priced for r in dataset.records)
        assert body["selected"]["unpriced_calls"] == listed > 0, key
