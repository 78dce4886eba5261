"""The JSONL exporter: daily files in the configured zone, raw UTF-8, failures counted, writing resumes."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from ai_usage_monitor.exporter.drops import fallback_drops_dir
from ai_usage_monitor.exporter.jsonl import JsonlExporter
from ai_usage_monitor.records import UsageRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_file_per_local_day_and_raw_utf8(tmp_path: Path) -> None:
    exporter = JsonlExporter(tmp_path, SHANGHAI)
    # 2025-10-26 23:30 UTC is already 2025-10-27 07:30 in Shanghai
    late_utc = datetime(2025, 10, 26, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    early_utc = datetime(2025, 10, 26, 10, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert exporter.export(UsageRecord(timestamp=early_utc, function="实时分析"))
    assert exporter.export(UsageRecord(timestamp=late_utc, function="话术生成"))
    exporter.close()
    first = (tmp_path / "usage_2025-10-26.jsonl").read_bytes()
    second = (tmp_path / "usage_2025-10-27.jsonl").read_bytes()
    assert "实时分析".encode() in first  # not \\u escaped
    assert orjson.loads(second)["function"] == "话术生成"
    assert first.count(b"\n") == 1 and second.count(b"\n") == 1


def test_dst_day_boundaries(tmp_path: Path) -> None:
    ny = ZoneInfo("America/New_York")
    exporter = JsonlExporter(tmp_path, ny)
    # 2025-11-02 is 25 hours long in New York; 23:30 local that day is still 2025-11-02
    late = datetime(2025, 11, 2, 23, 30, tzinfo=ny).timestamp()
    after = datetime(2025, 11, 3, 0, 30, tzinfo=ny).timestamp()
    exporter.export(UsageRecord(timestamp=late))
    exporter.export(UsageRecord(timestamp=after))
    exporter.close()
    assert len((tmp_path / "usage_2025-11-02.jsonl").read_bytes().splitlines()) == 1
    assert len((tmp_path / "usage_2025-11-03.jsonl").read_bytes().splitlines()) == 1


def test_unwritable_folder_drops_counts_logs_once_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    blocker = tmp_path / "records"
    blocker.write_text("a file where the folder should be")  # mkdir fails even for root
    exporter = JsonlExporter(blocker / "ai_usage", SHANGHAI)
    request.addfinalizer(lambda: shutil.rmtree(fallback_drops_dir(blocker / "ai_usage"), ignore_errors=True))
    with caplog.at_level(logging.ERROR, logger="ai_usage_monitor"):
        for _ in range(3):
            assert exporter.export(UsageRecord(timestamp=1.7e9)) is False
    assert exporter.dropped == 3
    assert sum("cannot write usage records" in r.message for r in caplog.records) == 1
    blocker.unlink()
    assert exporter.export(UsageRecord(timestamp=1.7e9, model="after"))
    exporter.close()
    lines = next((blocker / "ai_usage").glob("usage_*.jsonl")).read_bytes().splitlines()
    assert [orjson.loads(x)["model"] for x in lines] == ["after"]
    assert exporter.written == 1


def test_fsync_always_still_writes(tmp_path: Path) -> None:
    exporter = JsonlExporter(tmp_path, SHANGHAI, fsync=True)
    for i in range(5):
        exporter.export(UsageRecord(timestamp=1.7e9 + i))
    exporter.close()
    assert sum(len(p.read_bytes().splitlines()) for p in tmp_path.glob("*.jsonl")) == 5
