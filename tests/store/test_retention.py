"""Retention on real files and a real index: old day files gzipped without a line lost or counted twice, the
index reading ``.gz`` files (also from scratch), writers left alone, old index rows dropped."""

from __future__ import annotations

import errno
import gzip
import os
import random
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from ai_usage_monitor.budgets.config import parse_budgets, period_window
from ai_usage_monitor.budgets.current import RecordedSpend
from ai_usage_monitor.budgets.seed import spend_in_records
from ai_usage_monitor.config import Settings
from ai_usage_monitor.exporter.jsonl import JsonlExporter
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import queries
from ai_usage_monitor.store.day_files import read_day_lines
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.periods import month_range
from ai_usage_monitor.store.retention import apply_retention
from ai_usage_monitor.testing.hostile import HOSTILE_KINDS, hostile_chunk
from tests.store.helpers import make_records, settings_for, tokens
from tests.store.test_full_disk import fill
from tests.support.records import record_file, write_records

NOW = time.time()
DAY = 86400.0


def totals(store: UsageStore) -> tuple[int, float, int]:
    s = queries.summarize(store, None)
    return s.calls, round(s.cost, 9), s.total_tokens


def age_files(folder: Path, seconds: float = 7200.0) -> None:
    """Make every day file look untouched for ``seconds`` (retention leaves files written to lately)."""
    for path in folder.glob("usage_*.jsonl"):
        os.utime(path, (NOW - seconds, NOW - seconds))


def with_retention(settings: Settings, **values: int) -> Settings:
    return settings.model_copy(update=values)


def test_old_days_are_gzipped_and_the_index_counts_them_once(tmp_path: Path) -> None:
    settings = with_retention(settings_for(tmp_path), retention_days=3)
    records = make_records(400, NOW - 10 * DAY, NOW)
    write_records(settings.records_dir, records, settings.tz)
    age_files(settings.records_dir)
    before = {p.name: p.read_bytes() for p in settings.records_dir.glob("usage_*.jsonl")}
    with UsageStore(settings) as store:
        assert store.refresh() == len(records)
        indexed = totals(store)
        files = store.health()["files"]

        report = apply_retention(settings, None, now=NOW)

        today = record_file(settings.records_dir, settings.tz, NOW).name
        kept = {record_file(settings.records_dir, settings.tz, NOW - d * DAY).name for d in range(4)}
        assert {c.name for c in report.compressed} == set(before) - kept
        assert today in kept and not report.left
        for name, content in before.items():
            plain, packed = settings.records_dir / name, settings.records_dir / f"{name}.gz"
            if name in kept:
                assert plain.read_bytes() == content and not packed.exists()
            else:
                assert not plain.exists() and gzip.decompress(packed.read_bytes()) == content
        assert not list(settings.records_dir.glob("*.tmp"))

        assert store.refresh() == 0
        health = store.health()
        assert (health["files"], health["duplicate_records"]) == (files, 0)
        assert totals(store) == indexed
        # reindex reads the .gz files
        assert store.rebuild() == len(records)
        assert totals(store) == indexed
        assert store.health()["duplicate_records"] == 0


def test_lines_the_index_had_not_read_yet_are_read_from_the_gz(tmp_path: Path) -> None:
    settings = with_retention(settings_for(tmp_path), retention_days=1)
    day = NOW - 5 * DAY
    first, second = make_records(30, day - 600, day, seed=1), make_records(20, day, day + 600, seed=2)
    write_records(settings.records_dir, first, settings.tz)
    with UsageStore(settings) as store:
        assert store.refresh() == 30
        write_records(settings.records_dir, second, settings.tz)  # appended while no index looks
        age_files(settings.records_dir)
        assert len(apply_retention(settings, None, now=NOW).compressed) == 1
        assert store.refresh() == 20
        assert totals(store)[0] == 50
        assert store.health()["duplicate_records"] == 0


def test_lines_written_to_a_compressed_day_join_its_gz(tmp_path: Path) -> None:
    settings = with_retention(settings_for(tmp_path), retention_days=1)
    day = NOW - 4 * DAY
    records = make_records(25, day, day + 3600)
    write_records(settings.records_dir, records, settings.tz)
    age_files(settings.records_dir)
    path = record_file(settings.records_dir, settings.tz, day)
    with UsageStore(settings) as store:
        store.refresh()
        apply_retention(settings, None, now=NOW)
        assert store.refresh() == 0
        # a late record for that day (a writer that held the day open), and one written twice
        late = UsageRecord(timestamp=day + 10, model="late", cost=0.25, priced=True)
        again = records[3]
        path.write_bytes(late.to_json_line() + again.to_json_line())
        assert sorted(read_day_lines(path)) == sorted(
            [r.to_json_line().rstrip(b"\n") for r in records] + [late.to_json_line().rstrip(b"\n")]
        )
        assert store.refresh() == 1
        assert totals(store)[0] == 26
        age_files(settings.records_dir)
        assert [c.name for c in apply_retention(settings, None, now=NOW).compressed] == [path.name]
        assert not path.exists()
        assert store.refresh() == 0
        assert totals(store)[0] == 26
        assert queries.summarize(store, None).by_model["late"]["calls"] == 1
        assert store.rebuild() == 26


def test_writer_on_today_and_on_an_old_day_loses_nothing(tmp_path: Path) -> None:
    """Writers keep appending while retention runs: today's file is never touched; a day old by name but
    written to meanwhile is left, or compressed with every line (the exporter writes again what it wrote to
    a file that was removed)."""
    settings = with_retention(settings_for(tmp_path), retention_days=1)
    old_day = NOW - 3 * DAY
    seed_records = make_records(50, old_day, old_day + 60)
    write_records(settings.records_dir, seed_records, settings.tz)
    age_files(settings.records_dir)
    exporter = JsonlExporter(settings.records_dir, settings.tz, check_interval=0.0)
    written: list[UsageRecord] = []
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set() or i < 200:
            ts = NOW if i % 2 else old_day + 100 + i * 0.001
            record = UsageRecord(timestamp=ts, model=f"w{i % 3}", cost=0.01, priced=True, record_id=f"w-{i}")
            assert exporter.export(record)
            written.append(record)
            i += 1

    today_file = record_file(settings.records_dir, settings.tz, NOW)
    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(0.05)
        # the old day is written to right now: left for a later pass
        report = apply_retention(settings, None, now=time.time())
        assert report.left == [record_file(settings.records_dir, settings.tz, old_day).name]
        # with the quiet time waived, it is compressed under the writer's feet
        for _ in range(3):
            apply_retention(settings, None, now=time.time(), quiet_seconds=0.0)
    finally:
        stop.set()
        thread.join()
    exporter.close()
    assert today_file.exists() and not today_file.with_name(today_file.name + ".gz").exists()
    expected = Counter(r.record_id for r in [*seed_records, *written])
    with UsageStore(settings) as store:
        store.refresh()
        assert totals(store)[0] == sum(expected.values())
    old_lines = read_day_lines(record_file(settings.records_dir, settings.tz, old_day))
    today_lines = today_file.read_bytes().splitlines()
    found = {orjson.loads(line)["record_id"] for line in [*old_lines, *today_lines]}
    assert found == set(expected)


def test_old_rows_leave_the_index_and_are_not_read_again(tmp_path: Path) -> None:
    settings = with_retention(settings_for(tmp_path), index_retention_days=31)
    old = make_records(60, NOW - 50 * DAY, NOW - 35 * DAY, seed=3)
    new = make_records(40, NOW - 20 * DAY, NOW, seed=4)
    write_records(settings.records_dir, [*old, *new], settings.tz)
    with UsageStore(settings) as store:
        store.refresh()
        assert totals(store)[0] == 100
        dry = apply_retention(settings, store, now=NOW, dry_run=True)
        assert dry.rows_dropped == 60 and totals(store)[0] == 100
        report = apply_retention(settings, store, now=NOW)
        assert report.rows_dropped == 60
        assert "dropped 60 index rows" in report.summary()
        assert totals(store) == (
            len(new),
            round(sum(r.cost for r in new), 9),
            sum(tokens(r) for r in new),
        )
        health = store.health()
        assert (health["records_indexed"], health["rows_expired"]) == (40, 60)
        assert store.refresh() == 0
        assert totals(store)[0] == 40


def counters(store: UsageStore) -> list[object]:
    """Everything /metrics exposes as counters and histograms, for every label set it may ask for."""
    from ai_usage_monitor.store.buckets import DURATION_BUCKETS, TOKEN_BUCKETS

    return [
        *(queries.metric_totals(store, extras) for extras in ((), ("user_id", "anchor_id"), ("anchor_id",))),
        queries.duration_histogram(store, DURATION_BUCKETS),
        queries.token_histogram(store, TOKEN_BUCKETS),
    ]


def test_metrics_counters_keep_what_dropped_rows_counted(tmp_path: Path) -> None:
    """Dropping old rows must not lower a /metrics counter: Prometheus would read a reset."""
    settings = with_retention(settings_for(tmp_path), index_retention_days=31)
    old = make_records(60, NOW - 50 * DAY, NOW - 35 * DAY, seed=5)
    older = make_records(30, NOW - 90 * DAY, NOW - 80 * DAY, seed=6)
    write_records(settings.records_dir, [*older, *old], settings.tz)
    with UsageStore(settings) as store:
        store.refresh()
        before = counters(store)
        assert store.drop_before(NOW - 60 * DAY) == 30  # two drops: the second adds to the first
        assert apply_retention(settings, store, now=NOW).rows_dropped == 60
        assert queries.summarize(store, None).calls == 0
        assert _rounded(counters(store)) == _rounded(before)
        new = make_records(10, NOW - DAY, NOW, seed=7)
        write_records(settings.records_dir, new, settings.tz)
        assert store.refresh() == 10
        grown = counters(store)
    with UsageStore(settings) as reopened:  # kept in the index, not in the process
        assert _rounded(counters(reopened)) == _rounded(grown)
    with UsageStore(settings_for(tmp_path / "all")) as everything:  # the same records, none dropped
        write_records(everything.settings.records_dir, [*older, *old, *new], settings.tz)
        everything.refresh()
        assert _rounded(counters(everything)) == _rounded(grown)


def _rounded(value: object) -> object:
    """Floats to 9 digits: sums made in another order."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def test_budgets_read_gzipped_days(tmp_path: Path) -> None:
    settings = with_retention(settings_for(tmp_path), retention_days=1)
    local = time.localtime(NOW)
    window = month_range(settings.tz, local.tm_year, local.tm_mon)
    records = make_records(80, window.start, NOW)
    write_records(settings.records_dir, records, settings.tz)
    age_files(settings.records_dir)
    budget = parse_budgets([{"name": "month", "period": "month", "limit": 1000}])[0]
    period = period_window(NOW, "month", settings.tz)
    reader = RecordedSpend(settings.records_dir, settings.tz)
    plain_seed = spend_in_records(settings.records_dir, settings.tz, budget, period)
    plain_read = reader(budget, period)
    apply_retention(settings, None, now=NOW)
    assert list(settings.records_dir.glob("*.gz")) or window.start > NOW - 2 * DAY
    expected = sum(r.cost for r in records if period.start <= r.timestamp < period.end)
    for spend in (
        plain_seed,
        plain_read,
        spend_in_records(settings.records_dir, settings.tz, budget, period),
        RecordedSpend(settings.records_dir, settings.tz)(budget, period),
        reader(budget, period),
    ):
        assert round(sum(spend.values()), 9) == round(expected, 9)


def test_a_day_caught_mid_compression_is_counted_once(tmp_path: Path) -> None:
    """Both names hold the day between the rename and the removal: a fresh index reads it once, and takes
    the ``.gz`` over when the plain file goes."""
    settings = settings_for(tmp_path)
    day = NOW - 3 * DAY
    records = make_records(40, day, day + 600)
    write_records(settings.records_dir, records, settings.tz)
    path = record_file(settings.records_dir, settings.tz, day)
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
    with UsageStore(settings) as store:
        assert store.refresh() == 40
        assert store.refresh() == 0
        path.unlink()
        assert store.refresh() == 0
        assert totals(store)[0] == 40
        assert store.health()["duplicate_records"] == 0
        assert store.rebuild() == 40


def test_a_damaged_gz_is_skipped_until_it_is_whole(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    day = NOW - 3 * DAY
    records = make_records(30, day, day + 600)
    write_records(settings.records_dir, records, settings.tz)
    path = record_file(settings.records_dir, settings.tz, day)
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    archive = path.with_name(path.name + ".gz")
    archive.write_bytes(packed[: len(packed) // 2])
    write_records(settings.records_dir, make_records(5, NOW - 60, NOW, seed=9), settings.tz)
    with UsageStore(settings) as store:
        assert store.refresh() == 5
        assert store.refresh() == 0
        archive.write_bytes(packed)
        assert store.refresh() == 30


def test_a_full_disk_leaves_the_day_as_it_was(small_disk: Path) -> None:
    settings = Settings(records_dir=small_disk / "records", timezone="Asia/Shanghai", retention_days=1)
    day = NOW - 3 * DAY
    rnd = random.Random(5)
    records = [
        UsageRecord(timestamp=day + i, model="m", cost=0.01, tags={"n": rnd.randbytes(600).hex()})
        for i in range(400)
    ]
    write_records(settings.records_dir, records, settings.tz)
    age_files(settings.records_dir)
    path = record_file(settings.records_dir, settings.tz, day)
    content = path.read_bytes()
    filler = fill(small_disk, leave=4096)
    with pytest.raises(OSError) as failed:
        apply_retention(settings, None, now=NOW)
    assert failed.value.errno == errno.ENOSPC
    assert path.read_bytes() == content
    assert sorted(p.name for p in settings.records_dir.iterdir()) == [".retention.lock", path.name]
    filler.unlink()
    assert [c.name for c in apply_retention(settings, None, now=NOW).compressed] == [path.name]
    assert read_day_lines(path) == content.splitlines()


def test_hostile_lines_read_from_gz_count_as_from_plain_files(tmp_path: Path) -> None:
    """Corrupt lines, records glued behind torn lines (salvaged from the decompressed bytes) and duplicates
    come out of a fresh index over ``.gz`` files exactly as out of one over the plain files."""
    settings = with_retention(settings_for(tmp_path), retention_days=1)
    records = make_records(2 * len(HOSTILE_KINDS), NOW - 6 * DAY, NOW - 3 * DAY, seed=13)
    settings.records_dir.mkdir(parents=True)
    for i, record in enumerate(records):
        data, _bad = hostile_chunk(HOSTILE_KINDS[i % len(HOSTILE_KINDS)], record)
        with record_file(settings.records_dir, settings.tz, record.timestamp).open("ab") as f:
            f.write(data)
    age_files(settings.records_dir)

    def counted() -> tuple[object, ...]:
        with UsageStore(settings) as store:
            assert store.refresh() == len(records)
            h = store.health()
            return totals(store), h["corrupt_lines"], h["duplicate_records"], h["files"]

    plain = counted()
    shutil.rmtree(settings.index_path)
    compressed = apply_retention(settings, None, now=NOW).compressed
    assert len(compressed) == len(list(settings.records_dir.glob("*.gz"))) >= 3
    assert not list(settings.records_dir.glob("usage_*.jsonl"))
    assert counted() == plain
