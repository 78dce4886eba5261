"""``/dashboard`` for every range key, and ``/config``, against the hand aggregation."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
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
from tests.api.test_api_stats import assert_breakdown

approx = pytest.approx

TOP_KEYS = {
    "generated_at",
    "currency",
    "timezone",
    "range",
    "current_hour",
    "today",
    "month",
    "selected",
    "cost_trend",
    "top_users",
    "top_anchors",
    "latency_by_model",
    "recent_errors",
    "unpriced_models",
    "records_dropped",
    "services",
    "service",
}


def expected_window(ds: Dataset, key: str, generated_at: float) -> Window:
    today = ds.now.date()
    if key == "1h":
        return Window(generated_at - 3600, generated_at)
    if key == "today":
        return day_window(today)
    if key == "month":
        return month_window(today.year, today.month)
    return last_days_window(today, int(key[:-1]))


def assert_totals(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual["calls"] == expected["calls"]
    assert actual["tokens"] == expected["total_tokens"]
    assert actual["cost"] == approx(expected["cost"], rel=1e-12, abs=1e-15)
    assert actual["success_rate"] == approx(expected["success_rate"])


@pytest.mark.parametrize("key", ["1h", "today", "7d", "30d", "month"])
def test_dashboard_matches_hand_aggregation(dataset: Dataset, key: str) -> None:
    before = time.time()
    body = dataset.client.get("/api/ai_usage/dashboard", params={"range": key}).json()
    assert set(body) == TOP_KEYS
    assert before <= body["generated_at"] <= time.time()
    assert (body["currency"], body["timezone"]) == ("CNY", "Asia/Shanghai")
    now = dataset.now
    hour = now.replace(minute=0, second=0, microsecond=0)
    assert_totals(body["current_hour"], aggregate(dataset.records, hour_window(hour)))
    assert_totals(body["today"], aggregate(dataset.records, day_window(now.date())))
    assert_totals(body["month"], aggregate(dataset.records, month_window(now.year, now.month)))

    window = expected_window(dataset, key, body["range"]["end"])
    assert body["range"]["key"] == key
    assert body["range"]["start"] == approx(window.start)
    assert body["range"]["end"] == approx(window.end)
    if key == "1h":
        assert before - 1 <= body["range"]["end"] <= time.time() + 1
    selected = aggregate(dataset.records, window)
    sel = body["selected"]
    assert_totals(sel, selected)
    for field in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"):
        assert sel[field] == selected[field], field
    assert sel["avg_duration_ms"] == approx(selected["avg_duration_ms"])
    assert_breakdown(sel["by_model"], selected["by_model"])
    assert_breakdown(sel["by_function"], selected["by_function"])

    today = now.date()
    trend_days = [(today - timedelta(days=29 - i)).isoformat() for i in range(30)]
    assert [row["date"] for row in body["cost_trend"]] == trend_days
    for row in body["cost_trend"]:
        day = datetime.fromisoformat(row["date"]).date()
        want = aggregate(dataset.records, day_window(day))
        assert (row["calls"], row["tokens"]) == (want["calls"], want["total_tokens"])
        assert row["cost"] == approx(want["cost"], rel=1e-12, abs=1e-15)

    for list_key, dimension in (("top_users", "user_id"), ("top_anchors", "anchor_id")):
        want_rows = rank(dataset.records, dimension, window, 10)
        assert [r[dimension] for r in body[list_key]] == [r[dimension] for r in want_rows]
        assert [r["cost"] for r in body[list_key]] == [approx(r["cost"]) for r in want_rows]
        assert all({dimension, "calls", "tokens", "cost"} <= set(r) for r in body[list_key])

    failed = [r for r in selected["records"] if not r.success]
    assert len(body["recent_errors"]) == len(failed)
    for row in body["recent_errors"]:
        assert set(row) >= {
            "timestamp",
            "provider",
            "model",
            "function",
            "user_id",
            "anchor_id",
            "error_type",
            "error_msg",
        }
    unpriced = {(r.provider, r.model) for r in selected["records"] if not r.priced and not r.usage_missing}
    assert {(r["provider"], r["model"]) for r in body["unpriced_models"]} == unpriced
    assert {r["model"] for r in body["latency_by_model"]} == {r.model for r in selected["records"]}
    for row in body["latency_by_model"]:
        assert set(row) >= {"model", "calls", "avg_ms", "p50_ms", "p95_ms"}


def test_dashboard_default_range_is_today(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/dashboard").json()
    assert body["range"]["key"] == "today"
    assert body["range"]["start"] == day_window(datetime.now(SHANGHAI).date()).start


def test_dashboard_rejects_unknown_range(dataset: Dataset) -> None:
    answer = dataset.client.get("/api/ai_usage/dashboard", params={"range": "2w"})
    assert answer.status_code == 422
    assert "1h" in answer.json()["detail"][0]["msg"]


def test_config(dataset: Dataset) -> None:
    body = dataset.client.get("/api/ai_usage/config").json()
    assert body == {"currency": "CNY", "timezone": "Asia/Shanghai", "auth_required": False}
