"""``/metrics``: values equal to the hand aggregation, Chinese labels intact, ``promtool check metrics``
clean, per-user labels folded without a counter ever going down, and a real Prometheus scraping a running
server agrees with the REST API."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ai_usage_monitor.api import create_app
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store.buckets import DURATION_BUCKETS, TOKEN_BUCKETS
from tests.api.conftest import Dataset, boundary_records, make_record, settings_for
from tests.api.helpers import SHANGHAI, aggregate, day_window, local_client, month_window, settle_clock
from tests.support.prometheus import PrometheusServer, scrape_job
from tests.support.records import write_records
from tests.support.servers import serve_monitor

approx = pytest.approx


def samples(text: str) -> dict[str, list[Sample]]:
    """Samples by sample name (``…_total``, ``…_bucket``, …)."""
    out: dict[str, list[Sample]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append(sample)
    return out


def by_labels(found: Iterable[Sample], *names: str) -> dict[tuple[str, ...], float]:
    result: dict[tuple[str, ...], float] = defaultdict(float)
    for sample in found:
        result[tuple(sample.labels[n] for n in names)] += sample.value
    return dict(result)


def status(record: UsageRecord) -> str:
    return "ok" if record.success else "error"


def expected_counters(records: Sequence[UsageRecord]) -> dict[str, dict[tuple[str, ...], float]]:
    requests: dict[tuple[str, ...], float] = defaultdict(float)
    tokens: dict[tuple[str, ...], float] = defaultdict(float)
    cost: dict[tuple[str, ...], float] = defaultdict(float)
    for r in records:
        key = (r.provider, r.model, r.function or "", status(r))
        requests[key] += 1
        cost[(*key, "CNY")] += r.cost
        for kind, value in (
            ("input", r.input_tokens),
            ("output", r.output_tokens),
            ("cached", r.cached_tokens),
            ("reasoning", r.reasoning_tokens),
        ):
            tokens[(*key, kind)] += value or 0
    return {"requests": dict(requests), "tokens": dict(tokens), "cost": dict(cost)}


def test_counters_equal_the_hand_aggregation(dataset: Dataset) -> None:
    text = dataset.client.get("/metrics").text
    found = samples(text)
    want = expected_counters(dataset.records)
    base = ("provider", "model", "function", "status")
    assert by_labels(found["ai_usage_requests_total"], *base) == want["requests"]
    tokens = by_labels(found["ai_usage_tokens_total"], *base, "type")
    assert tokens == {k: v for k, v in want["tokens"].items() if k in tokens}
    assert {k for k, v in want["tokens"].items() if v} <= set(tokens)
    cost = by_labels(found["ai_usage_cost_total"], *base, "currency")
    assert set(cost) == set(want["cost"])
    for key, value in want["cost"].items():
        assert cost[key] == approx(value, rel=1e-12, abs=1e-15), key
    assert 'function="实时分析"' in text and 'function="话术生成"' in text


def test_unpriced_and_store_gauges(dataset: Dataset) -> None:
    found = samples(dataset.client.get("/metrics").text)
    unpriced: dict[tuple[str, str], float] = defaultdict(float)
    for r in dataset.records:
        if not r.priced and not r.usage_missing:
            unpriced[(r.provider, r.model)] += 1
    assert by_labels(found["ai_usage_unpriced_requests_total"], "provider", "model") == unpriced
    now = dataset.now
    today = aggregate(dataset.records, day_window(now.date()))["cost"]
    month = aggregate(dataset.records, month_window(now.year, now.month))["cost"]
    assert found["ai_usage_cost_today"][0].labels == {"currency": "CNY"}
    assert found["ai_usage_cost_today"][0].value == approx(today)
    assert found["ai_usage_cost_month"][0].value == approx(month)
    assert found["ai_usage_store_records_indexed"][0].value == len(dataset.records)
    assert found["ai_usage_store_corrupt_lines_total"][0].value == 0
    assert found["ai_usage_last_record_timestamp_seconds"][0].value == approx(
        max(r.timestamp for r in dataset.records)
    )
    if dataset.backend == "duckdb":
        assert found["ai_usage_store_lag_seconds"][0].value >= 0
    else:  # ClickHouse has no index to lag behind (the shipper reports its own lag)
        assert "ai_usage_store_lag_seconds" not in found


def _cumulative(values: Iterable[float], bounds: Sequence[float]) -> list[float]:
    values = list(values)
    return [float(sum(v <= b for v in values)) for b in bounds] + [float(len(values))]


def test_duration_histogram(dataset: Dataset) -> None:
    found = samples(dataset.client.get("/metrics").text)
    labels = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type")
    groups: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for r in dataset.records:
        error = "" if r.success else (r.error_type or "")
        groups[(r.operation, r.provider, r.model, error)].append(r.duration_ms / 1000)
    buckets = found["gen_ai_client_operation_duration_seconds_bucket"]
    assert {b.labels["le"] for b in buckets} >= {"0.01", "81.92", "+Inf"}
    for key, values in groups.items():
        mine = [b for b in buckets if tuple(b.labels[n] for n in labels) == key]
        assert [b.value for b in mine] == _cumulative(values, DURATION_BUCKETS), key
        counts = by_labels(found["gen_ai_client_operation_duration_seconds_count"], *labels)
        sums = by_labels(found["gen_ai_client_operation_duration_seconds_sum"], *labels)
        assert counts[key] == len(values)
        assert sums[key] == approx(sum(values))
    assert len(by_labels(found["gen_ai_client_operation_duration_seconds_count"], *labels)) == len(groups)


def test_token_histogram(dataset: Dataset) -> None:
    found = samples(dataset.client.get("/metrics").text)
    labels = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type")
    groups: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for r in dataset.records:
        for kind, value in (("input", r.input_tokens), ("output", r.output_tokens)):
            if value is not None:
                groups[(r.operation, r.provider, r.model, kind)].append(value)
    buckets = found["gen_ai_client_token_usage_bucket"]
    assert {b.labels["le"] for b in buckets} >= {"1.0", "4.0", "6.7108864e+07", "+Inf"}
    for key, values in groups.items():
        mine = [b for b in buckets if tuple(b.labels[n] for n in labels) == key]
        assert [b.value for b in mine] == _cumulative(values, TOKEN_BUCKETS), key
        assert by_labels(found["gen_ai_client_token_usage_sum"], *labels)[key] == sum(values)


def test_promtool_check_metrics(dataset: Dataset) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    text = dataset.client.get("/metrics").text
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode().strip() == ""


def test_user_labels_folded_and_monotonic(tmp_path: Path) -> None:
    now = settle_clock()
    settings = settings_for(
        tmp_path, metrics_user_labels=True, metrics_anchor_labels=True, metrics_label_top_n=2
    )
    ts = now.timestamp() - 100
    first = [
        make_record(ts, user_id="big", anchor_id="a1", cost=5.0),
        make_record(ts, user_id="mid", anchor_id="a2", cost=3.0),
        make_record(ts, user_id="small", anchor_id="a3", cost=1.0),
        make_record(ts, user_id="tiny", anchor_id="a3", cost=0.5),
        make_record(ts, user_id=None, anchor_id=None, cost=0.25),
    ]
    write_records(settings.records_dir, first, SHANGHAI)
    with local_client(create_app(settings)) as client:
        base = ("provider", "model", "function", "status", "user_id", "anchor_id")
        cost = by_labels(samples(client.get("/metrics").text)["ai_usage_cost_total"], "user_id", "anchor_id")
        assert cost == {
            ("big", "a1"): 5.0,
            ("mid", "a2"): 3.0,
            ("other", "other"): 1.5,
            ("", ""): 0.25,
        }
        # "small" overtakes everyone: it gets its own series; nothing already exposed goes down
        write_records(
            settings.records_dir, [make_record(ts + 1, user_id="small", anchor_id="a3", cost=10.0)], SHANGHAI
        )
        deadline = time.monotonic() + 5
        while client.get("/health").json()["records_indexed"] != 6:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        after = samples(client.get("/metrics").text)
        cost_after = by_labels(after["ai_usage_cost_total"], "user_id", "anchor_id")
        for key, value in cost.items():
            assert cost_after[key] >= value, key
        assert ("small", "a3") in cost_after
        assert sum(cost_after.values()) == approx(sum(r.cost for r in first) + 10.0)
        full = by_labels(after["ai_usage_requests_total"], *base)
        assert sum(full.values()) == 6


def test_real_prometheus_scrapes_the_same_cost_as_the_rest_api(tmp_path: Path) -> None:
    now = settle_clock(margin=30.0)
    settings = settings_for(tmp_path)
    year_ago = now - timedelta(days=365)
    records = [r for r in boundary_records(now) if r.timestamp >= year_ago.timestamp()]
    write_records(settings.records_dir, records, SHANGHAI)
    with serve_monitor(settings) as url, httpx.Client(base_url=url) as client:
        target = url.removeprefix("http://")
        with PrometheusServer.start(
            tmp_path / "prometheus", scrape_configs=[scrape_job("monitor", target)]
        ) as prom:
            prom.wait_for_target_up("monitor")

            def rest_total() -> tuple[float, int]:
                trend = client.get("/api/ai_usage/cost_trend", params={"days": 366}).json()["data"]
                return sum(row["cost"] for row in trend), sum(row["calls"] for row in trend)

            cost, calls = rest_total()
            assert cost == approx(sum(r.cost for r in records))
            assert prom.query_value("sum(ai_usage_cost_total)") == approx(cost, rel=1e-12)
            assert prom.query_value("sum(ai_usage_requests_total)") == calls

            # a record appended while everything runs reaches both
            write_records(settings.records_dir, [make_record(time.time() - 1, cost=0.125)], SHANGHAI)
            result = prom.wait_for(
                "sum(ai_usage_requests_total)", lambda r: bool(r) and float(r[0]["value"][1]) == calls + 1
            )
            assert result
            cost, calls = rest_total()
            assert prom.query_value("sum(ai_usage_cost_total)") == approx(cost, rel=1e-12)
            assert prom.query_value('sum(ai_usage_cost_total{function="实时分析"})') == approx(
                sum(r.cost for r in records if r.function == "实时分析") + 0.125
            )
