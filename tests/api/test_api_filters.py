"""``service=``, ``host=`` and repeated ``tag=key:value`` on every summary route: each answer equals a hand
aggregation of the records those filters keep; a malformed tag is a 422 that says what is expected."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ai_usage_monitor.records import UsageRecord
from tests.api.conftest import Dataset
from tests.api.helpers import (
    aggregate,
    day_window,
    hour_window,
    last_days_window,
    month_window,
    rank,
)
from tests.api.test_api_stats import assert_period, hour_start

approx = pytest.approx
API = "/api/ai_usage"

#: query parameters → the same filter by hand: (service, host, tags)
CASES: list[tuple[dict[str, Any], tuple[str | None, str | None, tuple[tuple[str, str], ...]]]] = [
    ({"service": "batch-worker"}, ("batch-worker", None, ())),
    ({"service": "live-api", "host": "pod-1"}, ("live-api", "pod-1", ())),
    ({"host": "pod-2"}, (None, "pod-2", ())),
    ({"tag": "team:ops"}, (None, None, (("team", "ops"),))),
    ({"tag": ["team:search:v2", "env:prod"]}, (None, None, (("team", "search:v2"), ("env", "prod")))),
    ({"service": "batch-worker", "tag": "env:prod"}, ("batch-worker", None, (("env", "prod"),))),
    ({"service": "no-such-service"}, ("no-such-service", None, ())),
]
IDS = ["service", "service+host", "host", "tag", "two-tags", "service+tag", "unknown-service"]


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest, dataset: Dataset) -> tuple[dict[str, Any], list[UsageRecord]]:
    """The query parameters of one case and the records they must keep."""
    params, (service, host, tags) = request.param
    kept = [
        r
        for r in dataset.records
        if (service is None or r.service == service)
        and (host is None or r.host == host)
        and all(r.tags.get(k) == v for k, v in tags)
    ]
    return params, kept


def get(ds: Dataset, path: str, params: dict[str, Any], **more: Any) -> Any:
    response = ds.client.get(API + path, params={**params, **more})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_fixture_holds_two_services_and_an_unnamed_record(dataset: Dataset) -> None:
    assert {r.service for r in dataset.records} == {"live-api", "batch-worker", None}


def test_period_summaries(dataset: Dataset, case: tuple[dict[str, Any], list[UsageRecord]]) -> None:
    params, kept = case
    now = dataset.now
    assert_period(get(dataset, "/stats/hourly", params), aggregate(kept, hour_window(hour_start(dataset))))
    assert_period(get(dataset, "/stats/daily", params), aggregate(kept, day_window(now.date())))
    monthly = get(dataset, "/stats/monthly", params, year=2025, month=9)
    assert_period(monthly, aggregate(kept, month_window(2025, 9)))
    session = get(dataset, "/stats/session/session_456", params)
    assert_period(session, aggregate(kept, None, session_id="session_456"))
    current = get(dataset, "/stats/current", params)
    today = aggregate(kept, day_window(now.date()))
    assert (current["today"]["calls"], current["today"]["cost"]) == (today["calls"], approx(today["cost"]))


def test_cost_trend(dataset: Dataset, case: tuple[dict[str, Any], list[UsageRecord]]) -> None:
    params, kept = case
    body = get(dataset, "/cost_trend", params, days=30)
    assert len(body["data"]) == 30
    for point in body["data"]:
        day = aggregate(kept, day_window(date.fromisoformat(point["date"])))
        assert (point["calls"], point["cost"]) == (day["calls"], approx(day["cost"], abs=1e-15))


@pytest.mark.parametrize(
    ("path", "dimension"),
    [
        ("/top_users", "user_id"),
        ("/top_models", "model"),
        ("/top_services", "service"),
        ("/top_hosts", "host"),
    ],
)
def test_rankings(
    dataset: Dataset, case: tuple[dict[str, Any], list[UsageRecord]], path: str, dimension: str
) -> None:
    params, kept = case
    body = get(dataset, path, params, days=30, limit=20)
    expected = rank(kept, dimension, last_days_window(dataset.now.date(), 30), 20)
    rows = body[path.lstrip("/")]
    assert [row[dimension] for row in rows] == [row[dimension] for row in expected]
    assert [row["cost"] for row in rows] == [approx(row["cost"]) for row in expected]
    assert [row["calls"] for row in rows] == [row["calls"] for row in expected]


def test_errors_latency_and_unpriced(
    dataset: Dataset, case: tuple[dict[str, Any], list[UsageRecord]]
) -> None:
    params, kept = case
    errors = get(dataset, "/recent_errors", params)["recent_errors"]
    failed = sorted((r for r in kept if not r.success), key=lambda r: -r.timestamp)
    assert [row["timestamp"] for row in errors] == [approx(r.timestamp) for r in failed]
    window = last_days_window(dataset.now.date(), 7)
    latency = get(dataset, "/latency", params, days=7)["latency_by_model"]
    calls: dict[str, int] = {}
    for r in kept:
        if r.timestamp in window:
            calls[r.model] = calls.get(r.model, 0) + 1
    assert {row["model"]: row["calls"] for row in latency} == calls
    unpriced = get(dataset, "/unpriced_models", params, days=30)["unpriced_models"]
    window = last_days_window(dataset.now.date(), 30)
    names = {r.model for r in kept if r.timestamp in window and not r.priced and not r.usage_missing}
    assert {row["model"] for row in unpriced} == names


def test_dashboard_panels_follow_the_filters(
    dataset: Dataset, case: tuple[dict[str, Any], list[UsageRecord]]
) -> None:
    params, kept = case
    body = get(dataset, "/dashboard", params, range="30d")
    window = last_days_window(dataset.now.date(), 30)
    selected = aggregate(kept, window)
    assert (body["selected"]["calls"], body["selected"]["cost"]) == (
        selected["calls"],
        approx(selected["cost"]),
    )
    month = aggregate(kept, month_window(dataset.now.year, dataset.now.month))
    assert body["month"]["calls"] == month["calls"]
    assert [row["user_id"] for row in body["top_users"]] == [
        row["user_id"] for row in rank(kept, "user_id", window, 10)
    ]
    trend = {point["date"]: point["calls"] for point in body["cost_trend"]}
    assert sum(trend.values()) == aggregate(kept, window)["calls"]
    assert body["service"] == params.get("service")
    # the picker always lists every service seen, whatever the filter
    assert body["services"] == [row["service"] for row in rank(dataset.records, "service", None, 100)]


def test_old_records_count_without_a_filter_only(dataset: Dataset) -> None:
    everything = get(dataset, "/stats/session/session_456", {})
    unnamed = [r for r in dataset.records if r.service is None and r.session_id == "session_456"]
    assert unnamed, "the fixture holds a record without a service"
    named = sum(
        get(dataset, "/stats/session/session_456", {"service": s})["total_calls"]
        for s in ("live-api", "batch-worker")
    )
    assert everything["total_calls"] == named + len(unnamed)


@pytest.mark.parametrize("bad", ["team", ":ops", ""])
def test_a_malformed_tag_is_a_422_saying_what_is_expected(dataset: Dataset, bad: str) -> None:
    for path in ("/stats/daily", "/top_services", "/dashboard"):
        response = dataset.client.get(API + path, params={"tag": bad})
        assert response.status_code == 422, (path, response.text)
        [error] = response.json()["detail"]
        assert "tag must be key:value" in error["msg"]
        assert error["loc"] == ["query", "tag", 0]


def test_too_long_a_tag_is_a_422(dataset: Dataset) -> None:
    response = dataset.client.get(API + "/stats/daily", params={"tag": "note:" + "x" * 300})
    assert response.status_code == 422
    assert "characters at most" in response.json()["detail"][0]["msg"]


def test_openapi_documents_the_filters(dataset: Dataset) -> None:
    paths = dataset.client.get("/openapi.json").json()["paths"]
    for path in ("/stats/daily", "/cost_trend", "/top_users", "/top_services", "/top_hosts", "/dashboard"):
        [operation] = [op for p, ops in paths.items() if p.endswith(path) for op in ops.values()]
        names = {param["name"]: param for param in operation["parameters"]}
        assert {"service", "host", "tag"} <= set(names), path
        assert names["tag"]["schema"]["type"] == "array"
