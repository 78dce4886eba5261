"""A records folder built to flood: thousands of distinct providers, models, functions, operations, error
types, users and anchors, and names and messages megabytes long. ``/metrics`` keeps every label to a
sticky top N plus ``other``, every value short, a bounded number of series and bytes, and no exposed
counter ever goes down; the dashboard JSON and the recent errors stay small."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ai_usage_monitor.api import create_app
from ai_usage_monitor.api.app import API_PREFIX
from ai_usage_monitor.bounds import MESSAGE_MAX_CHARS, NAME_MAX_CHARS
from ai_usage_monitor.exporter.prometheus import OTHER
from ai_usage_monitor.records import UsageRecord
from tests.api.conftest import make_record, settings_for
from tests.api.helpers import SHANGHAI, local_client, settle_clock
from tests.api.test_api_metrics import samples
from tests.support.records import write_records

TOP_N = 5
DISTINCT = 1500
#: label names whose values come from the records, as each family names them
FREE_LABELS = (
    "provider",
    "model",
    "function",
    "user_id",
    "anchor_id",
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "error_type",
)
HUGE_NAME = "模" * 1_000_000
HUGE_MESSAGE = "x" * 5_000_000
#: at most this many series and bytes on /metrics, whatever the records hold (about 10× what it shows)
MAX_SAMPLES = 5_000
MAX_BYTES = 1_000_000
#: at most this many bytes in one dashboard or recent-errors answer
MAX_JSON_BYTES = 200_000


def flood(start: float, prefix: str, cost_scale: float) -> list[UsageRecord]:
    """``DISTINCT`` calls, each with its own model, function, user, anchor and error type, a few hundred
    providers and operations, and a handful of megabyte-long names; cost grows along the list."""
    records = [
        make_record(
            start + i * 0.001,
            provider=f"{prefix}provider-{i % 300}",
            model=f"{prefix}model-{i}",
            function=f"{prefix}函数-{i}",
            user_id=f"{prefix}user-{i}",
            anchor_id=f"{prefix}anchor-{i}",
            operation=f"{prefix}op-{i % 300}",
            success=i % 2 == 0,
            error_type=None if i % 2 == 0 else f"{prefix}Error{i}",
            error_msg=None if i % 2 == 0 else "boom",
            cost=i * cost_scale,
            duration_ms=float(i),
        )
        for i in range(DISTINCT)
    ]
    records += [
        make_record(
            start + 5, model=prefix + HUGE_NAME, function=prefix + HUGE_NAME, cost=2 * DISTINCT * cost_scale
        ),
        make_record(
            start + 6,
            user_id=prefix + HUGE_NAME,
            success=False,
            error_type=prefix + HUGE_NAME,
            error_msg=HUGE_MESSAGE,
            session_id=HUGE_NAME,
        ),
    ]
    return records


@pytest.fixture
def flooded(tmp_path: Path) -> Iterator[tuple[TestClient, Path, list[UsageRecord]]]:
    now = settle_clock(margin=60.0)
    settings = settings_for(
        tmp_path, metrics_user_labels=True, metrics_anchor_labels=True, metrics_label_top_n=TOP_N
    )
    records = flood(now.timestamp() - 50, "", 0.001)
    write_records(settings.records_dir, records, SHANGHAI)
    with local_client(create_app(settings)) as client:
        wait_indexed(client, len(records))
        yield client, settings.records_dir, records


def wait_indexed(client: TestClient, count: int) -> None:
    deadline = time.monotonic() + 20.0
    while client.get("/health").json()["records_indexed"] < count:
        assert time.monotonic() < deadline, "records not indexed in 20 s"
        time.sleep(0.05)


def exposed(client: TestClient) -> tuple[int, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The /metrics size in bytes and every sample by (name, labels)."""
    body = client.get("/metrics").content
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for found_samples in samples(body.decode()).values()
        for s in found_samples
    }
    return len(body), found


def check_bounded(size: int, found: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> None:
    assert size <= MAX_BYTES
    assert len(found) <= MAX_SAMPLES
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, labels in found:
        family = (
            name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        )
        for label, value in labels:
            assert len(value) <= NAME_MAX_CHARS, (name, label)
            if label in FREE_LABELS:
                values[(family, label)].add(value)
    for (family, label), seen in values.items():
        # a sticky top N (at most 2×N once the top changed), plus "other" and "" (no value)
        assert len(seen - {OTHER, ""}) <= 2 * TOP_N, (family, label, len(seen))


def totals(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(value for (sample, _), value in found.items() if sample == name)


def test_metrics_stay_bounded_and_monotonic(flooded: tuple[TestClient, Path, list[UsageRecord]]) -> None:
    client, records_dir, records = flooded
    size, before = exposed(client)
    check_bounded(size, before)
    assert totals(before, "ai_usage_requests_total") == len(records)
    assert totals(before, "ai_usage_cost_total") == pytest.approx(sum(r.cost for r in records))
    assert totals(before, "gen_ai_client_operation_duration_seconds_count") == len(records)
    cut_models = {
        dict(labels).get("model", "") for name, labels in before if name == "ai_usage_requests_total"
    }
    assert any(model.startswith("模" * 10) for model in cut_models), "the costly huge name keeps a cut label"

    # new names, each far costlier than the old: the top N changes in every dimension
    more = flood(time.time() - 20, "new-", 1.0)
    write_records(records_dir, more, SHANGHAI)
    wait_indexed(client, len(records) + len(more))
    size, after = exposed(client)
    check_bounded(size, after)
    for key, value in before.items():
        if key[0].endswith(("_total", "_bucket", "_count", "_sum")):
            assert key in after, key  # a series never disappears while the server runs
            assert after[key] >= value - 1e-9 * max(1.0, abs(value)), key
    everything = [*records, *more]
    assert totals(after, "ai_usage_requests_total") == len(everything)
    assert totals(after, "ai_usage_cost_total") == pytest.approx(sum(r.cost for r in everything))
    assert totals(after, "gen_ai_client_operation_duration_seconds_count") == len(everything)


def test_dashboard_and_recent_errors_stay_small(flooded: tuple[TestClient, Path, list[UsageRecord]]) -> None:
    client, _, records = flooded
    for key in ("today", "7d"):
        answer = client.get(f"{API_PREFIX}/dashboard", params={"range": key})
        assert answer.status_code == 200
        assert len(answer.content) <= MAX_JSON_BYTES, key
        body = answer.json()
        selected = body["selected"]
        assert selected["calls"] == len(records)
        for breakdown in ("by_model", "by_function"):
            rows = selected[breakdown]
            assert len(rows) <= 51 and OTHER in rows
            assert all(len(name) <= NAME_MAX_CHARS for name in rows)
            assert sum(row["calls"] for row in rows.values()) == len(records)
            assert sum(row["cost"] for row in rows.values()) == pytest.approx(sum(r.cost for r in records))
        assert len(body["latency_by_model"]) <= 50
        errors = body["recent_errors"]
        assert errors and errors[0]["error_msg"].startswith("x" * 100)
        assert all(len(row["error_msg"] or "") <= MESSAGE_MAX_CHARS for row in errors)
        assert all(len(row["session_id"] or "") <= NAME_MAX_CHARS for row in errors)
    answer = client.get(f"{API_PREFIX}/recent_errors", params={"limit": 100})
    assert len(answer.content) <= MAX_JSON_BYTES
    rows = answer.json()["recent_errors"]
    assert len(rows) == 100 and all(len(row["error_type"] or "") <= NAME_MAX_CHARS for row in rows)
