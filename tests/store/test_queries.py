"""Every query equals a hand aggregation of records a test wrote, in non-UTC zones and across DST."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import periods, queries, summaries
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import Filters, TimeRange
from tests.store.helpers import (
    daily_costs,
    group,
    in_range,
    make_records,
    rate,
    settings_for,
    tokens,
)
from tests.support.records import write_records

# 2025-11-03 12:00 in New York: the window of 40 days before it holds the DST fall-back of 2025-11-02.
NOW = datetime(2025, 11, 3, 12, tzinfo=ZoneInfo("America/New_York")).timestamp()


@pytest.fixture(params=["Asia/Shanghai", "America/New_York"])
def indexed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[UsageStore, list[UsageRecord]]]:
    settings = settings_for(tmp_path, request.param)
    records = make_records(1500, NOW - 40 * 86400, NOW)
    # records on the boundaries of today, yesterday and the current hour, and in the repeated DST hour
    tz = settings.tz
    today, _ = periods.day_range(tz, 0, NOW)
    hour = periods.hour_range(tz, 0, NOW)
    edges = [today.start, today.start - 0.001, hour.start, hour.start - 0.001, hour.end - 0.001]
    edges += [
        datetime(2025, 11, 2, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=f).timestamp() for f in (0, 1)
    ]
    records += [UsageRecord(timestamp=t, model="edge", function="边界", cost=1.0, priced=True) for t in edges]
    write_records(settings.records_dir, records, tz)
    with UsageStore(settings) as store:
        store.refresh()
        yield store, records


def check_summary(s: queries.Summary, records: list[UsageRecord]) -> None:
    total = group(records, lambda r: 0).get(0, {"calls": 0, "ok": 0, "tokens": 0, "cost": 0.0})
    assert (s.calls, s.successes, s.total_tokens) == (total["calls"], total["ok"], total["tokens"])
    assert s.cost == pytest.approx(total["cost"], rel=1e-9, abs=1e-12)
    assert s.success_rate == pytest.approx(rate(total["ok"], total["calls"]))
    # calls with tokens and no price only: a failure that returned no usage has nothing to price
    assert s.unpriced_calls == sum(not r.priced and not r.usage_missing for r in records)
    assert s.input_tokens == sum(r.input_tokens or 0 for r in records)
    assert s.cached_tokens == sum(r.cached_tokens or 0 for r in records)
    for name, key in (("by_model", lambda r: r.model), ("by_function", lambda r: r.function or "unknown")):
        expected = group(records, key)
        got = getattr(s, name)
        assert set(got) == set(expected)
        for k, e in expected.items():
            assert got[k]["calls"] == e["calls"] and got[k]["total_tokens"] == e["tokens"]
            assert got[k]["cost"] == pytest.approx(e["cost"], rel=1e-9, abs=1e-12)
            assert got[k]["success_rate"] == pytest.approx(rate(e["ok"], e["calls"]))


def test_summaries_of_hours_days_months_and_sessions(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    tz = store.tz
    for hours_ago in (0, 1, 2, 30):
        rng = periods.hour_range(tz, hours_ago, NOW)
        check_summary(queries.summarize(store, rng), in_range(records, rng.start, rng.end))
    for days_ago in (0, 1, 2, 39):
        rng, _ = periods.day_range(tz, days_ago, NOW)
        part = in_range(records, rng.start, rng.end)
        assert part, "each day holds records"
        check_summary(queries.summarize(store, rng), part)
    rng = periods.month_range(tz, 2025, 10)
    check_summary(queries.summarize(store, rng), in_range(records, rng.start, rng.end))
    check_summary(queries.summarize(store, None), records)
    session = [r for r in records if r.session_id == "session_3"]
    check_summary(queries.summarize(store, None, Filters(session_id="session_3")), session)
    stats = summaries.session_stats(store, "session_3")
    assert (stats["calls"], stats["tokens"]) == (len(session), sum(tokens(r) for r in session))
    assert stats["cost"] == pytest.approx(sum(r.cost for r in session))
    empty = queries.summarize(store, TimeRange(0, 1))
    assert (empty.calls, empty.cost, empty.success_rate, empty.by_model) == (0, 0.0, 100.0, {})


def test_summary_boundaries_in_the_configured_zone(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, _ = indexed
    today = summaries.daily_summary(store, 0, NOW)
    yesterday = summaries.daily_summary(store, 1, NOW)
    assert today.label["date"] == datetime.fromtimestamp(NOW, store.tz).date().isoformat()
    # the record at today's first instant is today's, the one a millisecond earlier is yesterday's
    assert today.by_model["edge"]["calls"] >= 1 and yesterday.by_model["edge"]["calls"] >= 1
    d = today.to_dict()
    assert {"period", "date", "total_calls", "total_tokens", "total_cost", "by_model", "by_function"} <= set(
        d
    )
    assert set(d["by_model"]["edge"]) >= {"calls", "total_tokens", "cost"}
    hour = summaries.hourly_summary(store, 0, NOW)
    assert hour.by_model["edge"]["calls"] == 2  # hour start and last millisecond, not the one before


def test_filters_and_rankings(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    rng, _ = periods.last_days(store.tz, 30, NOW)
    part = in_range(records, rng.start, rng.end)
    check_summary(
        queries.summarize(store, rng, Filters(model="gpt-4o", user_id="user_001")),
        [r for r in part if r.model == "gpt-4o" and r.user_id == "user_001"],
    )
    for dim in ("user_id", "anchor_id", "function", "model", "session_id", "provider"):
        expected = group((r for r in part if getattr(r, dim) is not None), lambda r, d=dim: getattr(r, d))
        got = queries.ranking(store, dim, rng, 100)  # type: ignore[arg-type]
        assert [row[dim] for row in got] == sorted(
            expected, key=lambda k: (-expected[k]["cost"], -expected[k]["calls"], k)
        )
        for row in got:
            e = expected[row[dim]]
            assert (row["calls"], row["tokens"]) == (e["calls"], e["tokens"])
            assert row["cost"] == pytest.approx(e["cost"])
    assert len(queries.ranking(store, "user_id", rng, 2)) == 2
    top = summaries.top_users(store, 10, 30, NOW)
    assert top == queries.ranking(store, "user_id", rng, 10)
    with pytest.raises(ValueError, match="dimension"):
        queries.ranking(store, "cost; DROP TABLE records", rng, 1)  # type: ignore[arg-type]


def test_cost_trend_has_every_day_and_matches_local_dates(
    indexed: tuple[UsageStore, list[UsageRecord]],
) -> None:
    store, records = indexed
    by_day = daily_costs(records, store.tz)
    trend = summaries.cost_trend_days(store, 45, NOW)
    assert len(trend) == 45
    _, days = periods.last_days(store.tz, 45, NOW)
    assert [row["date"] for row in trend] == [d.isoformat() for d in days]
    for row, day in zip(trend, days, strict=True):
        assert row["cost"] == pytest.approx(by_day.get(day, 0.0), abs=1e-9)
    assert trend[0]["cost"] == 0.0 and trend[0]["calls"] == 0  # before the first record: present, zero
    # a window of days without any record
    _, old_days = periods.last_days(store.tz, 3, NOW - 100 * 86400)
    assert [r["cost"] for r in queries.cost_trend(store, old_days)] == [0.0, 0.0, 0.0]


def test_unpriced_errors_latency(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    unpriced = group(
        (r for r in records if not r.priced and not r.usage_missing), lambda r: (r.provider, r.model)
    )
    got = queries.unpriced_models(store, None)
    assert {(u["provider"], u["model"]): u["calls"] for u in got} == {
        k: v["calls"] for k, v in unpriced.items()
    }
    errors = queries.recent_errors(store, 5)
    failed = sorted((r for r in records if not r.success), key=lambda r: -r.timestamp)[:5]
    assert [e["timestamp"] for e in errors] == [r.timestamp for r in failed]
    assert errors[0]["error_msg"] == "boom"
    rng, _ = periods.last_days(store.tz, 10, NOW)
    part = in_range(records, rng.start, rng.end)
    for row in queries.latency_by_model(store, rng):
        durations = sorted(r.duration_ms for r in part if r.model == row["model"])
        assert row["calls"] == len(durations)
        assert row["avg_ms"] == pytest.approx(statistics.fmean(durations))
        assert row["p50_ms"] == pytest.approx(statistics.quantiles(durations, n=100, method="inclusive")[49])
        assert row["p95_ms"] == pytest.approx(statistics.quantiles(durations, n=100, method="inclusive")[94])


def test_all_time_metrics_fold_in_new_records(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    buckets = [0.01 * 2**i for i in range(14)]

    def check() -> None:
        expected = group(
            records, lambda r: (r.provider, r.model, r.function or "", "ok" if r.success else "error")
        )
        rows = queries.metric_totals(store)
        assert {(r["provider"], r["model"], r["function"], r["status"]): r["requests"] for r in rows} == {
            k: v["calls"] for k, v in expected.items()
        }
        assert sum(r["cost"] for r in rows) == pytest.approx(sum(r.cost for r in records))
        assert sum(r["input_tokens"] for r in rows) == sum(r.input_tokens or 0 for r in records)
        hist = queries.duration_histogram(store, buckets)
        assert sum(h["count"] for h in hist) == len(records)
        assert sum(h["sum"] for h in hist) == pytest.approx(sum(r.duration_ms for r in records) / 1000)
        fast = sum(1 for r in records if r.duration_ms / 1000 <= buckets[0])
        assert sum(h["counts"][0] for h in hist) == fast
        slow = sum(1 for r in records if r.duration_ms / 1000 > buckets[-1])
        assert sum(h["counts"][-1] for h in hist) == slow
        tok = queries.token_histogram(store, [4**i for i in range(14)])
        out = [h for h in tok if h["token_type"] == "output"]
        assert sum(h["count"] for h in out) == sum(r.output_tokens is not None for r in records)
        assert sum(h["sum"] for h in out) == sum(r.output_tokens or 0 for r in records)

    check()
    extra = make_records(50, NOW - 60, NOW, seed=99)
    write_records(store.records_dir, extra, store.tz)
    assert store.refresh() == 50
    records.extend(extra)
    check()  # folded in from the new batch only
    by_user = queries.metric_totals(store, ("user_id",))
    assert sum(r["requests"] for r in by_user if r["user_id"] == "") == sum(
        r.user_id is None for r in records
    )


def test_iter_records_returns_the_jsonl_fields_in_time_order(
    indexed: tuple[UsageStore, list[UsageRecord]],
) -> None:
    store, records = indexed
    rng, _ = periods.day_range(store.tz, 3, NOW)
    got = list(queries.iter_records(store, rng))
    expected = sorted(in_range(records, rng.start, rng.end), key=lambda r: r.timestamp)
    assert [g["timestamp"] for g in got] == [r.timestamp for r in expected]
    for g, r in zip(got, expected, strict=True):
        assert {k: g[k] for k in ("model", "function", "user_id", "input_tokens", "cost", "success")} == {
            "model": r.model,
            "function": r.function,
            "user_id": r.user_id,
            "input_tokens": r.input_tokens,
            "cost": r.cost,
            "success": r.success,
        }


def test_current_stats_shape(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    cur = summaries.current_stats(store, NOW)
    hour = periods.hour_range(store.tz, 0, NOW)
    part = in_range(records, hour.start, hour.end)
    assert cur["current_hour"]["calls"] == len(part)
    assert cur["current_hour"]["tokens"] == sum(tokens(r) for r in part)
    assert set(cur["today"]) >= {"calls", "tokens", "cost", "by_model", "by_function"}
    assert timedelta(seconds=0) <= timedelta(seconds=1)
