"""Cached aggregates folded forward batch by batch answer exactly what a freshly built index answers: over
open ranges, all-time, past the group cap, after a rebuild; and ingest folds forward what was asked lately."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ai_usage_monitor.exporter.prometheus import UsageCollector, exposition
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import cache, periods, queries
from ai_usage_monitor.store.cache import RECOMPUTE_SECONDS, FoldCache
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import TimeRange
from tests.store.helpers import group, in_range, make_records, settings_for
from tests.support.records import write_records

NOW = time.time()
Ask = Callable[[UsageStore], Any]


@dataclass
class Indexed:
    store: UsageStore
    records: list[UsageRecord] = field(default_factory=list)
    seed: int = 100

    def append_batch(self, n: int) -> list[UsageRecord]:
        """``n`` records of the last ten minutes, and a failed one at the current hour's first instant,
        written and ingested as one new batch."""
        hour = periods.hour_range(self.store.tz, 0)
        self.seed += 1
        batch = make_records(n, max(hour.start, NOW - 600), NOW, seed=self.seed)
        batch.append(UsageRecord(timestamp=hour.start, model="edge", cost=0.5, priced=True, success=False))
        write_records(self.store.records_dir, batch, self.store.tz)
        assert self.store.refresh() == len(batch)
        self.records += batch
        return batch


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """``NOW`` as each test starts: the module may have been imported in an earlier clock hour."""
    global NOW
    NOW = time.time()


@pytest.fixture
def indexed(tmp_path: Path) -> Iterator[Indexed]:
    settings = settings_for(tmp_path)
    records = make_records(600, NOW - 10 * 86400, NOW - 900)
    write_records(settings.records_dir, records, settings.tz)
    with UsageStore(settings) as store:
        store.refresh()
        yield Indexed(store, records)


def plain(value: Any) -> Any:
    """``value`` as plain dicts and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal, floats within 1e-9 relative (sums folded batch by batch, or summed by DuckDB's threads in
    another order, may differ in the last bits)."""
    if isinstance(want, float) and isinstance(got, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (where, got, want)
    elif isinstance(want, dict) and isinstance(got, dict):
        assert got.keys() == want.keys(), (where, got.keys(), want.keys())
        for key in want:
            assert_same(got[key], want[key], f"{where}/{key}")
    elif isinstance(want, list) and isinstance(got, list):
        assert len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


def questions(store: UsageStore) -> dict[str, Ask]:
    """Every query over open ranges (cached), all records (cached) and a sliding hour (never cached)."""
    tz = store.tz
    ranges: dict[str, TimeRange | None] = {
        "hour": periods.hour_range(tz, 0),
        "today": periods.day_range(tz, 0)[0],
        "7d": periods.last_days(tz, 7)[0],
        "all": None,
        "sliding": TimeRange(NOW - 3600, NOW + 1),
        "long ago": TimeRange(NOW - 9 * 86400, NOW - 8 * 86400),
    }
    _, days = periods.last_days(tz, 14)
    asks: dict[str, Ask] = {"trend": lambda s: queries.cost_trend(s, days), "totals": queries.metric_totals}
    for name, rng in ranges.items():
        asks[f"summary {name}"] = partial(queries.summarize, rng=rng)
        asks[f"users {name}"] = partial(queries.ranking, dimension="user_id", rng=rng, limit=3)
        asks[f"anchors {name}"] = partial(queries.ranking, dimension="anchor_id", rng=rng, limit=10)
        asks[f"unpriced {name}"] = partial(queries.unpriced_models, rng=rng)
        asks[f"errors {name}"] = partial(queries.recent_errors, limit=5, rng=rng)
        asks[f"latency {name}"] = partial(queries.latency_by_model, rng=rng)
    return asks


def answers(store: UsageStore) -> dict[str, Any]:
    return {name: plain(ask(store)) for name, ask in questions(store).items()}


def fresh_answers(indexed: Indexed, tmp: Path) -> dict[str, Any]:
    """What an index built now from the same files, in one batch, answers."""
    settings = indexed.store.settings.model_copy(update={"index_dir": tmp / "fresh-index"})
    with UsageStore(settings) as fresh:
        assert fresh.refresh() == len(indexed.records)
        return answers(fresh)


def test_folded_answers_equal_a_fresh_index(indexed: Indexed, tmp_path: Path) -> None:
    asks = questions(indexed.store)
    for ask in asks.values():
        ask(indexed.store)
    for round_no in range(4):
        indexed.append_batch(15)
        if round_no % 2:  # some aggregates fold several batches at once, others one at a time
            for name in list(asks)[::2]:
                asks[name](indexed.store)
    folded = answers(indexed.store)
    assert_same(folded, fresh_answers(indexed, tmp_path))
    total = group(indexed.records, lambda r: 0)[0]
    assert folded["summary all"]["calls"] == total["calls"] == 600 + 4 * 16
    assert folded["summary all"]["cost"] == pytest.approx(total["cost"])
    assert len(folded["errors sliding"]) == 5 and folded["errors long ago"]


def test_ingest_folds_what_was_asked_lately(indexed: Indexed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "RECOMPUTE_SECONDS", 0.0)  # no percentile is quick enough to redo at ingest
    store = indexed.store
    today = periods.day_range(store.tz, 0)[0]
    before = queries.summarize(store, today)
    queries.ranking(store, "user_id", today, 3)
    queries.latency_by_model(store, today)
    batch = indexed.append_batch(10)
    asked: list[str] = []
    real_query = store.query

    def counting(sql: str, params: object = None) -> list[tuple[Any, ...]]:
        asked.append(sql)
        return real_query(sql, params)

    monkeypatch.setattr(store, "query", counting)
    after = queries.summarize(store, today)
    queries.ranking(store, "user_id", today, 3)
    assert asked == []  # both were folded forward by refresh()
    assert after.calls == before.calls + len(in_range(batch, today.start, today.end))
    queries.latency_by_model(store, today)
    assert len(asked) == 1  # percentiles do not fold: computed again, by the asker


def test_groupings_past_the_cap_are_asked_of_the_index(
    indexed: Indexed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "MAX_CACHED_GROUPS", 2)
    answers(indexed.store)
    indexed.append_batch(20)
    capped = answers(indexed.store)
    monkeypatch.undo()
    assert_same(capped, fresh_answers(indexed, tmp_path))


def test_rebuild_forgets_cached_aggregates(indexed: Indexed, tmp_path: Path) -> None:
    answers(indexed.store)
    extra = make_records(5, NOW - 300, NOW, seed=3)
    (indexed.store.records_dir / "usage_extra.jsonl").write_bytes(b"".join(r.to_json_line() for r in extra))
    indexed.records += extra
    assert indexed.store.rebuild() == len(indexed.records)
    assert_same(answers(indexed.store), fresh_answers(indexed, tmp_path))


def test_metrics_text_is_reused_until_records_arrive(indexed: Indexed) -> None:
    registry = CollectorRegistry(auto_describe=False)
    collector = UsageCollector(indexed.store)
    registry.register(collector)

    def requests() -> Any:
        (family,) = [m for m in collector.collect() if m.name == "ai_usage_requests"]
        return family

    def same_text() -> bool:  # but for the lag, which grows between the two
        texts = [
            [line for line in text.splitlines() if not line.startswith(b"ai_usage_store_lag_seconds ")]
            for text in (exposition(registry), generate_latest(registry))
        ]
        return texts[0] == texts[1] and len(texts[0]) > 100

    assert same_text()
    assert requests() is requests()  # the same family object, so its text is reused
    first = requests()
    indexed.append_batch(3)
    assert requests() is not first
    assert same_text()
    assert sum(s.value for s in requests().samples) == len(indexed.records) == 604


def test_fold_cache_keeps_all_time_entries_and_evicts_the_oldest_others() -> None:
    folds = FoldCache(committed=3, max_entries=2)
    calls: list[tuple[str, int, int]] = []

    def fold(name: str, pause: float = 0.0) -> Callable[[int, int, int | None], int]:
        def run(after: int, upto: int, previous: int | None) -> int:
            calls.append((name, after, upto))
            time.sleep(pause)
            return (previous or 0) + (upto - after)

        return run

    assert folds.get("all", fold("all"), keep=True) == 3
    assert [folds.get(k, fold(k), keep=False) for k in "abc"] == [3, 3, 3]
    assert len(folds) == 3  # "a" was evicted, "all" is kept
    folds.advance(5)
    assert folds.get("all", fold("all"), keep=True) == 5 and calls[-1] == ("all", 3, 5)
    assert folds.get("a", fold("a"), keep=False) == 5 and calls[-1] == ("a", 0, 5)
    folds.advance(6)
    assert folds.catch_up() == 3  # every entry asked for lately: "all", "c", "a"
    assert folds.catch_up() == 0
    # whole recomputations are redone after an ingest only when they are quick
    folds.get("slow", fold("slow", pause=RECOMPUTE_SECONDS * 2), keep=True, recomputes=True)
    folds.get("quick", fold("quick"), keep=True, recomputes=True)
    folds.advance(7)
    assert folds.catch_up(max_age=0.0) == 0
    calls.clear()
    assert folds.catch_up() == 4 and {name for name, _, _ in calls} == {"all", "quick", "c", "a"}
    folds.reset(committed=2)
    assert len(folds) == 0 and folds.committed == 2
    assert folds.get("all", fold("all"), keep=True) == 2


def test_an_aggregate_asked_regularly_is_folded_only_when_its_next_ask_nears(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cache, "LEAD_SECONDS", 0.0)
    folds = FoldCache(committed=1)
    asks = 0

    def count(after: int, upto: int, previous: int | None) -> int:
        nonlocal asks
        asks += 1
        return upto

    folds.get("polled", count, keep=False)
    folds.advance(2)
    assert folds.catch_up() == 1  # asked once: folded after every ingest until it is asked again
    time.sleep(0.2)
    folds.get("polled", count, keep=False)  # asked every 0.2 s, it seems
    folds.advance(3)
    assert folds.catch_up() == 0
    time.sleep(0.25)
    assert folds.catch_up() == 1 and asks == 3
