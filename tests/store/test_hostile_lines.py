"""Hostile lines at ingest: refused numbers count as corrupt, a record glued behind a torn line is salvaged,
a record seen twice counts once, and an index of an older schema is rebuilt."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import duckdb
import orjson
import pytest

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import queries
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.testing.hostile import HOSTILE_KINDS, hostile_chunk
from tests.store.helpers import make_records, settings_for, tokens
from tests.support.records import record_file, write_records

NOW = time.time()


def assert_totals(store: UsageStore, records: list[UsageRecord]) -> None:
    """The all-time summary equals the hand totals of ``records``: nothing refused counted, nothing lost."""
    s = queries.summarize(store, None)
    assert s.calls == len(records)
    assert math.isfinite(s.cost) and s.cost == pytest.approx(sum(r.cost for r in records), abs=1e-9)
    assert s.total_tokens == sum(tokens(r) for r in records)
    assert s.input_tokens == sum(r.input_tokens or 0 for r in records)
    assert s.avg_duration_ms == pytest.approx(sum(r.duration_ms for r in records) / len(records))


def test_every_hostile_kind_is_counted_corrupt_and_totals_stay_exact(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    records = make_records(3 * len(HOSTILE_KINDS), NOW - 2 * 86400, NOW)
    settings.records_dir.mkdir(parents=True)
    corrupt = duplicates = 0
    for i, record in enumerate(records):
        kind = HOSTILE_KINDS[i % len(HOSTILE_KINDS)]
        data, bad = hostile_chunk(kind, record)
        corrupt += bad
        duplicates += kind == "duplicate"
        with record_file(settings.records_dir, settings.tz, record.timestamp).open("ab") as f:
            f.write(data)
    with UsageStore(settings) as store:
        assert store.refresh() == len(records)
        h = store.health()
        assert (h["records_indexed"], h["corrupt_lines"], h["duplicate_records"]) == (
            len(records),
            corrupt,
            duplicates,
        )
        assert_totals(store, records)
        by_model = queries.summarize(store, None).by_model
        assert "torn" not in by_model  # the torn half of a line is never a record


def test_a_record_glued_behind_a_torn_line_is_salvaged_while_tailing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    good = make_records(5, NOW - 60, NOW)
    write_records(settings.records_dir, good, settings.tz)
    path = record_file(settings.records_dir, settings.tz, NOW)
    killed = UsageRecord(timestamp=NOW, model="killed-writer", cost=7.0).to_json_line()
    acknowledged = UsageRecord(timestamp=NOW, model="acknowledged", cost=0.25, priced=True)
    with UsageStore(settings) as store:
        assert store.refresh() == 5
        with path.open("ab") as f:
            f.write(killed[:40])  # a writer killed mid-line
        assert store.refresh() == 0
        assert store.health()["pending_partial_lines"] == 1
        with path.open("ab") as f:  # the next process appends its record right behind it
            f.write(acknowledged.to_json_line())
        assert store.refresh() == 1
        h = store.health()
        assert (h["records_indexed"], h["corrupt_lines"], h["pending_partial_lines"]) == (6, 1, 0)
        assert queries.summarize(store, None).by_model["acknowledged"]["cost"] == 0.25
        assert_totals(store, [*good, acknowledged])


def _line_without_id(record: UsageRecord) -> bytes:
    data = record.to_dict()
    del data["record_id"]
    return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)


def test_a_record_id_is_counted_once_wherever_it_appears_again(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    records = make_records(40, NOW - 3 * 86400, NOW)
    write_records(settings.records_dir, records, settings.tz)
    files = sorted(settings.records_dir.glob("usage_*.jsonl"))
    original = files[0]
    copy = original.with_name(original.stem + "-copy.jsonl")  # a file copied next to itself
    copy.write_bytes(original.read_bytes())
    copied = original.read_bytes().count(b"\n")
    reshipped = records[-1]
    twins = UsageRecord(timestamp=NOW - 5, model="no-id", cost=0.5)  # lines without an id: each counts
    with record_file(settings.records_dir, settings.tz, NOW).open("ab") as f:
        f.write(reshipped.to_json_line() + _line_without_id(twins) + _line_without_id(twins))
    with UsageStore(settings) as store:
        assert store.refresh() == len(records) + 2
        assert store.health()["duplicate_records"] == copied + 1
        assert_totals(store, [*records, twins, twins])
        with record_file(settings.records_dir, settings.tz, reshipped.timestamp).open("ab") as f:
            f.write(reshipped.to_json_line())  # shipped again, read in a later batch
        assert store.refresh() == 0
        assert store.health()["duplicate_records"] == copied + 2
        assert_totals(store, [*records, twins, twins])
        # the original is replaced by an empty file: its records still live in the copy
        original.unlink()
        original.write_bytes(b"")
        store.refresh()
        h = store.health()
        assert (h["records_indexed"], h["duplicate_records"]) == (len(records) + 2, 2)
        assert_totals(store, [*records, twins, twins])
    with UsageStore(settings) as store:  # the counts are kept with the index
        assert store.health()["duplicate_records"] == 2


def test_an_index_of_the_previous_schema_is_rebuilt(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    records = make_records(30, NOW - 86400, NOW)
    write_records(settings.records_dir, records, settings.tz)
    path = record_file(settings.records_dir, settings.tz, NOW)
    with path.open("ab") as f:
        f.write(records[0].to_json_line())  # a duplicate the old index would have kept
    index = settings.index_path / "usage.duckdb"
    index.parent.mkdir(parents=True)
    con = duckdb.connect(str(index))  # the tables as schema 1 made them, with a stale row
    con.execute(
        """CREATE TABLE meta (key VARCHAR, value VARCHAR);
        INSERT INTO meta VALUES ('schema_version', '1'), ('next_batch', '2');
        CREATE TABLE files (file_id INTEGER, name VARCHAR, inode BIGINT, head BLOB, "offset" BIGINT,
                            records BIGINT, corrupt BIGINT);
        CREATE TABLE records (file_id INTEGER, batch INTEGER, ts DOUBLE, cost DOUBLE);
        INSERT INTO records VALUES (1, 1, 1.0, 99.0);"""
    )
    con.close()
    os.utime(path)
    with UsageStore(settings) as store:
        assert store.refresh() == len(records)
        assert store.health()["duplicate_records"] == 1
        assert_totals(store, records)
