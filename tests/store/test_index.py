"""The index tails JSONL by offsets: other processes' appends, torn and corrupt lines, restarts, rebuilds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import queries
from ai_usage_monitor.store.index import UsageStore
from tests.store.helpers import make_records, settings_for
from tests.support.records import record_file, write_records

NOW = time.time()


def totals(store: UsageStore) -> tuple[int, float]:
    s = queries.summarize(store, None)
    return s.calls, round(s.cost, 9)


def test_second_process_appends_are_seen_without_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, make_records(20, NOW - 3600, NOW), settings.tz)
    script = textwrap.dedent(
        """
        import os, sys, time
        from ai_usage_monitor.records import UsageRecord
        path, n = sys.argv[1], int(sys.argv[2])
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        for i in range(n):
            record = UsageRecord(timestamp=time.time(), model="from-child", cost=0.5, priced=True)
            os.write(fd, record.to_json_line())
        os.close(fd)
        """
    )
    with UsageStore(settings) as store:
        assert store.refresh() == 20
        store.start_tailing()
        target = record_file(settings.records_dir, settings.tz, NOW)
        subprocess.run([sys.executable, "-c", script, str(target), "30"], check=True, timeout=60)
        written = time.monotonic()
        deadline = written + 5
        while queries.summarize(store, None).by_model.get("from-child", {}).get("calls") != 30:
            assert time.monotonic() < deadline, "records of the other process never showed up"
            time.sleep(0.02)
        assert time.monotonic() - written < 1.0
        assert store.health()["tailing"] is True
        store.stop_tailing()
        assert store.health()["tailing"] is False


def test_torn_and_corrupt_lines_are_counted_and_nothing_else_is_lost(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    good = make_records(10, NOW - 60, NOW)
    path = record_file(settings.records_dir, settings.tz, NOW)
    path.parent.mkdir(parents=True)
    lines = [r.to_json_line() for r in good]
    corrupt = [
        b"not json at all\n",
        b'{"timestamp": "yesterday", "model": "x"}\n',
        b"[1, 2]\n",
        b'{"model": "no-ts"}\n',
    ]
    body = (
        b"".join(lines[:3])
        + corrupt[0]
        + b"\n"
        + b"".join(lines[3:6])
        + b"".join(corrupt[1:])
        + b"".join(lines[6:])
    )
    last = UsageRecord(timestamp=NOW, model="torn", cost=2.0, priced=True).to_json_line()
    path.write_bytes(body + last[:25])  # a writer in the middle of its line
    with UsageStore(settings) as store:
        assert store.refresh() == 10
        h = store.health()
        assert (h["records_indexed"], h["corrupt_lines"], h["pending_partial_lines"]) == (10, 4, 1)
        assert totals(store) == (10, round(sum(r.cost for r in good), 9))
        with path.open("ab") as f:
            f.write(last[25:])  # the line completes
        assert store.refresh() == 1
        h = store.health()
        assert (h["records_indexed"], h["corrupt_lines"], h["pending_partial_lines"]) == (11, 4, 0)
        assert queries.summarize(store, None).by_model["torn"]["cost"] == 2.0
    # the counts are persisted with the index
    with UsageStore(settings) as store:
        assert store.health()["corrupt_lines"] == 4


def test_restart_reads_only_new_bytes(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, make_records(300, NOW - 5 * 86400, NOW), settings.tz)
    total_bytes = sum(p.stat().st_size for p in settings.records_dir.glob("usage_*.jsonl"))
    with UsageStore(settings) as store:
        assert store.refresh() == 300
        assert store.bytes_read == total_bytes
        before = totals(store)
    with UsageStore(settings) as store:
        assert store.refresh() == 0
        assert store.bytes_read == 0
        assert totals(store) == before
        extra = UsageRecord(timestamp=NOW, model="after-restart")
        write_records(settings.records_dir, [extra], settings.tz)
        assert store.refresh() == 1
        assert store.bytes_read == len(extra.to_json_line())


def test_rebuild_equals_incremental_and_progress_is_reported(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "America/New_York")
    records = make_records(400, NOW - 10 * 86400, NOW)
    seen: list[tuple[int, int]] = []
    with UsageStore(settings) as store:
        for i in range(0, 400, 50):  # ingested bit by bit
            write_records(settings.records_dir, records[i : i + 50], settings.tz)
            store.refresh()
        incremental = (queries.summarize(store, None), queries.metric_totals(store))
        assert store.rebuild(progress=lambda done, total: seen.append((done, total))) == 400
        rebuilt = (queries.summarize(store, None), queries.metric_totals(store))
    assert rebuilt[0].calls == incremental[0].calls == 400
    assert rebuilt[0].by_model.keys() == incremental[0].by_model.keys()
    assert rebuilt[0].cost == pytest.approx(incremental[0].cost)
    assert [(r["model"], r["requests"]) for r in rebuilt[1]] == [
        (r["model"], r["requests"]) for r in incremental[1]
    ]
    total = sum(p.stat().st_size for p in settings.records_dir.glob("usage_*.jsonl"))
    assert seen[0] == (0, total) and seen[-1] == (total, total)


def test_truncated_or_replaced_file_is_read_again(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = record_file(settings.records_dir, settings.tz, NOW)
    write_records(settings.records_dir, make_records(5, NOW - 10, NOW), settings.tz)
    with UsageStore(settings) as store:
        assert store.refresh() == 5
        replacement = make_records(2, NOW - 10, NOW, seed=3)
        tmp = path.with_suffix(".new")
        tmp.write_bytes(b"".join(r.to_json_line() for r in replacement))
        os.replace(tmp, path)
        assert store.refresh() == 2
        assert totals(store)[0] == 2
        path.write_bytes(b"")
        store.refresh()
        assert totals(store)[0] == 0


def test_queries_from_many_threads_while_tailing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, make_records(200, NOW - 3600, NOW), settings.tz)
    errors: list[BaseException] = []
    with UsageStore(settings) as store:
        store.refresh()
        store.start_tailing()

        def ask() -> None:
            try:
                for _ in range(30):
                    assert queries.summarize(store, None).calls >= 200
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for i in range(10):
            write_records(settings.records_dir, make_records(10, NOW - 60, NOW, seed=100 + i), settings.tz)
            time.sleep(0.01)
        for t in threads:
            t.join()
        deadline = time.monotonic() + 5
        while queries.summarize(store, None).calls != 300:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert errors == []


def test_index_held_by_another_process_falls_back_to_memory(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, make_records(30, NOW - 60, NOW), settings.tz)
    with UsageStore(settings) as store:
        store.refresh()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.read()",
            str(settings.index_path / "usage.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with UsageStore(settings) as store:
            assert store.mode == "memory"
            assert store.refresh() == 30
            assert store.health()["index_path"] == ":memory:"
    finally:
        holder.communicate("", timeout=30)


def test_read_only_store_answers_without_writing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, make_records(40, NOW - 60, NOW), settings.tz)
    with UsageStore(settings) as store:
        store.refresh()
        expected = totals(store)
    write_records(settings.records_dir, make_records(5, NOW - 60, NOW, seed=5), settings.tz)
    with UsageStore(settings, read_only=True) as store:
        assert store.mode == "read_only"
        assert store.refresh() == 0
        assert totals(store) == expected
        with pytest.raises(RuntimeError, match="read-only"):
            store.rebuild()


def test_settled_files_are_read_in_place_and_an_append_meanwhile_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    records = make_records(200, NOW - 3 * 86400, NOW)
    write_records(settings.records_dir, records, settings.tz)
    old = time.time() - 3600
    files = sorted(settings.records_dir.glob("usage_*.jsonl"))
    for path in files:
        os.utime(path, (old, old))
    late = UsageRecord(timestamp=NOW, model="appended-while-reading")
    original = UsageStore._ingest_batch
    read_in_place: list[bool] = []

    def append_then_ingest(self: UsageStore, cur: Any, batch: list, by_id: dict, in_place: bool) -> int:
        read_in_place.append(in_place)
        if len(read_in_place) == 1:
            with files[-1].open("ab") as f:  # another process appends while DuckDB reads the file
                f.write(late.to_json_line())
        return original(self, cur, batch, by_id, in_place)

    monkeypatch.setattr(UsageStore, "_ingest_batch", append_then_ingest)
    with UsageStore(settings) as store:
        assert store.refresh() == 200
        assert read_in_place == [True, False]  # read in place, then again through pipes
        assert store.refresh() == 1
        s = queries.summarize(store, None)
        assert s.calls == 201 and s.by_model["appended-while-reading"]["calls"] == 1
        assert s.cost == pytest.approx(sum(r.cost for r in records))
