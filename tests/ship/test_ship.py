"""``ai-usage-monitor ship`` over records the real writer wrote: ClickHouse totals equal the records,
``--status`` shows every file shipped, ``/metrics`` counts them, and SIGTERM ships the rest, exit 0."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from ai_usage_monitor.testing.processes import free_port
from tests.ship.helpers import (
    TZ,
    ShipperProcess,
    clickhouse_totals,
    expected_totals,
    migrated,
    recent_records,
    run_cli,
    wait_until,
    write_with_exporter,
)
from tests.support.records import record_file


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


def test_shipped_totals_status_and_metrics(tmp_path: Path, clickhouse_url: str) -> None:
    client = migrated(clickhouse_url)
    records_dir = tmp_path / "records"
    records = recent_records(3000, seed=11)
    write_with_exporter(records_dir, records)
    files = sorted(p.name for p in records_dir.glob("usage_*.jsonl"))
    assert len(files) >= 3
    port = free_port()
    shipper = ShipperProcess.start(
        records_dir,
        clickhouse_url,
        "--batch-size",
        "500",
        "--metrics-port",
        str(port),
        log=tmp_path / "ship.log",
    )
    try:
        want = expected_totals(records)
        wait_until(lambda: clickhouse_totals(client).count == want.count, what="all records shipped")
        assert clickhouse_totals(client).matches(want)
        wait_until(lambda: shipper.state.records == len(records), what="offsets committed")

        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert _metric(metrics, "ai_usage_ship_records_total") == len(records)
        assert _metric(metrics, "ai_usage_ship_batches_total") >= len(records) / 500
        assert _metric(metrics, "ai_usage_ship_failures_total") == 0
        assert _metric(metrics, "ai_usage_ship_lag_bytes") == 0
        assert _metric(metrics, "ai_usage_ship_lag_seconds") == 0
        assert _metric(metrics, "ai_usage_ship_last_success_timestamp_seconds") > 0

        status = run_cli(
            "ship", "--status", "--store", clickhouse_url, "--records-dir", str(records_dir), cwd=tmp_path
        )
        assert status.returncode == 0, status.stderr
        for name in files:
            size = (records_dir / name).stat().st_size
            row = re.search(rf"{re.escape(name)}\W+([\d,]+)\W+([\d,]+)\W+([\d,]+)", status.stdout)
            assert row is not None, status.stdout
            assert [int(v.replace(",", "")) for v in row.groups()] == [size, size, 0]
        assert "lag: 0 bytes, 0.0 s" in status.stdout
        assert f"shipped {len(records):,} records" in status.stdout

        # records written while it runs, then SIGTERM right away: they are shipped before it exits
        more = recent_records(700, seed=12, days=0.01)
        write_with_exporter(records_dir, more)
        assert shipper.terminate() == 0
        assert clickhouse_totals(client).matches(expected_totals(records + more))
        assert shipper.state.records == len(records) + len(more)
    finally:
        shipper.stop()


def test_status_shows_the_lag_of_records_not_shipped(tmp_path: Path, clickhouse_url: str) -> None:
    records_dir = tmp_path / "records"
    records = recent_records(200, seed=13, days=2)
    write_with_exporter(records_dir, records)
    files = sorted(records_dir.glob("usage_*.jsonl"))
    # the oldest unshipped record is the first line of the oldest file
    oldest = next(r for r in records if record_file(records_dir, TZ, r.timestamp) == files[0])
    before = time.time()
    status = run_cli(
        "ship", "--status", "--store", clickhouse_url, "--records-dir", str(records_dir), cwd=tmp_path
    )
    after = time.time()
    assert status.returncode == 0, status.stderr
    lag = re.search(r"lag: ([\d,]+) bytes, ([\d.]+) s", status.stdout)
    assert lag is not None, status.stdout
    assert int(lag.group(1).replace(",", "")) == sum(p.stat().st_size for p in files)
    assert before - oldest.timestamp - 0.1 <= float(lag.group(2)) <= after - oldest.timestamp + 0.1
    assert "shipped 0 records" in status.stdout
    assert "last success: never" in status.stdout
