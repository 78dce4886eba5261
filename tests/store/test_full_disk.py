"""A full disk shared by the records and the index (the default layout), on a real small filesystem (a
16 MiB tmpfs mounted for the test): ingest needs no room for copies of the pending records, fails cleanly
(logged once, ``/health`` says so) when the index itself cannot grow, and resumes by itself."""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

import pytest

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store.index import UsageStore
from tests.store.helpers import settings_for
from tests.support.records import record_file

NOW = time.time()


def append_records(path: Path, n: int, model: str) -> list[UsageRecord]:
    """``n`` records with 3 KB of tags each: many JSONL bytes, few indexed ones."""
    records = [
        UsageRecord(timestamp=NOW - i * 0.01, model=model, cost=0.001, tags={"note": "x" * 3000})
        for i in range(n)
    ]
    with path.open("ab") as f:
        f.write(b"".join(r.to_json_line() for r in records))
    return records


def fill(disk: Path, leave: int, name: str = "filler") -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with a file of its own."""
    filler = disk / name
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


def test_ingest_needs_no_room_for_pending_records_and_resumes_after_a_full_disk(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(small_disk)
    settings.records_dir.mkdir()
    path = record_file(settings.records_dir, settings.tz, NOW)
    store = UsageStore(settings)
    try:
        store.refresh()
        first = append_records(path, 2000, "before-full")  # ~6 MB waiting to be indexed
        fill(small_disk, leave=2 << 20)  # 2 MB left: less than what is pending
        assert store.refresh() == len(first)
        assert store.health()["status"] == "ok"

        more = append_records(path, 300, "while-full")
        fill(small_disk, leave=0, name="filler-2")  # the disk is full now
        caplog.set_level(logging.WARNING, logger="ai_usage_monitor.store.index")
        for _ in range(3):
            with pytest.raises(Exception, match="No space left on device"):
                store.refresh()
        h = store.health()
        assert h["status"] == "error" and "No space left on device" in h["last_error"]
        assert h["records_indexed"] == len(first)
        assert len([r for r in caplog.records if r.message == "record index refresh failed"]) == 1

        store.start_tailing()
        for leftover in small_disk.glob("filler*"):
            leftover.unlink()  # space returns; nobody calls refresh() by hand
        deadline = time.monotonic() + 10
        while store.health()["records_indexed"] != len(first) + len(more):
            assert time.monotonic() < deadline, "ingest did not resume after space returned"
            time.sleep(0.05)
        assert store.health()["status"] == "ok"
        assert any(r.message.startswith("record index refresh works again") for r in caplog.records)
    finally:
        store.close()
