"""The drop ledger: a process's dropped records in a small file every process and the server can read, in a
fallback folder while the records folder refuses it; totals that never go down while a server runs."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.exporter.drops import (
    DROPS_DIR,
    DropTotals,
    fallback_drops_dir,
    read_ledgers,
    summarize_drops,
)
from ai_usage_monitor.exporter.jsonl import JsonlExporter
from ai_usage_monitor.records import UsageRecord


@pytest.fixture
def blocked(tmp_path: Path) -> Iterator[Path]:
    """A records folder that cannot be created (a file stands where its parent should be)."""
    blocker = tmp_path / "records"
    blocker.write_text("a file where the folder should be")
    records_dir = blocker / "ai_usage"
    try:
        yield records_dir
    finally:
        shutil.rmtree(fallback_drops_dir(records_dir), ignore_errors=True)


def test_drops_of_an_unwritable_folder_are_reported_and_caught_up(blocked: Path) -> None:
    exporter = JsonlExporter(blocked, ZoneInfo("UTC"))
    before = time.time()
    for _ in range(3):
        assert exporter.export(UsageRecord(timestamp=time.time())) is False
    # the records folder refused the ledger too: it is in the fallback folder, which the server reads
    [fallback] = read_ledgers(blocked).values()
    assert fallback["counts"] == {"write_failed": 1, "invalid": 0}  # written at the first drop
    assert list(fallback_drops_dir(blocked).glob("*.json"))

    blocked.parent.unlink()  # writable again
    assert exporter.export(UsageRecord(timestamp=time.time()))
    exporter.close()
    ledgers = read_ledgers(blocked)
    assert len(ledgers) == 1  # one process, though it wrote both folders
    assert list((blocked / DROPS_DIR).glob("*.json"))
    assert not list(fallback_drops_dir(blocked).glob("*.json"))  # moved home
    summary = summarize_drops(ledgers)
    assert summary["total"] == 3 and summary["by_reason"] == {"write_failed": 3, "invalid": 0}
    assert summary["processes"] == 1
    assert summary["last_at"] is not None and before <= summary["last_at"] <= time.time()
    assert "NotADirectoryError" in summary["last_error"] or "FileExistsError" in summary["last_error"]


def test_nothing_is_written_while_nothing_is_dropped(tmp_path: Path) -> None:
    exporter = JsonlExporter(tmp_path, ZoneInfo("UTC"))
    assert exporter.export(UsageRecord(timestamp=time.time()))
    exporter.close()
    assert not (tmp_path / DROPS_DIR).exists()
    assert summarize_drops(read_ledgers(tmp_path))["total"] == 0


def test_totals_never_go_down_when_a_ledger_is_deleted(tmp_path: Path) -> None:
    first = JsonlExporter(tmp_path, ZoneInfo("UTC"))
    first.drop("invalid", "invalid cost: nan")
    first.ledger.name = "host-1-0.json"  # a second process, as far as the folder can tell
    first.drop("write_failed", "OSError: [Errno 28] No space left on device")
    first.ledger.flush()
    totals = DropTotals()
    assert totals.observe(read_ledgers(tmp_path).items()) == {"write_failed": 1, "invalid": 2}
    (tmp_path / DROPS_DIR / "host-1-0.json").unlink()
    assert totals.observe(read_ledgers(tmp_path).items()) == {"write_failed": 1, "invalid": 2}
    first.drop("invalid", "invalid timestamp: inf")
    first.ledger.flush()
    assert totals.observe(read_ledgers(tmp_path).items()) == {"write_failed": 1, "invalid": 3}
    first.close()


def test_a_forked_child_keeps_its_own_ledger(tmp_path: Path) -> None:
    exporter = JsonlExporter(tmp_path, ZoneInfo("UTC"))
    exporter.drop("invalid", "invalid cost: nan")
    pid = os.fork()
    if pid == 0:  # the child: one drop of its own, then out without running the parent's clean-up
        exporter.drop("write_failed", "OSError: [Errno 28] No space left on device")
        exporter.ledger.flush()
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    exporter.close()
    ledgers = read_ledgers(tmp_path)
    counts = sorted(
        (ledger["pid"], ledger["counts"]["invalid"], ledger["counts"]["write_failed"])
        for ledger in ledgers.values()
    )
    assert counts == sorted([(os.getpid(), 1, 0), (pid, 0, 1)])
