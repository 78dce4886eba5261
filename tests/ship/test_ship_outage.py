"""ClickHouse goes down while the app writes: every record still reaches the JSONL, the shipper logs the
outage once (not per retry) and catches up, exactly, when the same server comes back."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx

from ai_usage_monitor.testing.processes import free_port, stop_process
from tests.ship.helpers import (
    ShipperProcess,
    clickhouse_totals,
    expected_totals,
    migrated,
    recent_records,
    wait_until,
    write_with_exporter,
)
from tests.support.clickhouse import SERVER_BINARY, ClickHouseServer, start_clickhouse


def _restart(server: ClickHouseServer) -> subprocess.Popen[bytes]:
    """The same server (same config, ports and data) started again."""
    binary = shutil.which(SERVER_BINARY) or f"/usr/sbin/{SERVER_BINARY}"
    with (server.workdir / "log" / "stdout.log").open("ab") as log:
        return subprocess.Popen(
            [binary, f"--config-file={server.workdir / 'config.xml'}"],
            cwd=server.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _failures(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    match = re.search(r"^ai_usage_ship_failures_total (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def test_clickhouse_down_then_back(tmp_path: Path) -> None:
    server = start_clickhouse(tmp_path / "clickhouse")
    processes = [server.process]
    url = server.url("outage")
    client = migrated(url)
    records_dir = tmp_path / "records"
    before = recent_records(500, seed=41)
    write_with_exporter(records_dir, before)
    port = free_port()
    shipper = ShipperProcess.start(records_dir, url, "--metrics-port", str(port), log=tmp_path / "ship.log")
    try:
        wait_until(lambda: shipper.state.records == len(before), what="first records shipped")
        stop_process(server.process)
        client.close()

        during = recent_records(3000, seed=42, days=0.01)
        exporter = write_with_exporter(records_dir, during)  # the app never waits for ClickHouse
        assert exporter.written == len(during) and exporter.dropped == 0
        wait_until(lambda: _failures(port) >= 3, what="several failed attempts")
        assert shipper.text().count("cannot ship to") == 1
        assert shipper.state.records == len(before)

        processes.append(_restart(server))
        want = expected_totals(before + during)
        wait_until(lambda: shipper.state.records == want.count, timeout=60, what="caught up")
        assert clickhouse_totals(migrated(url)).matches(want)
        assert shipper.text().count("works again") == 1
        assert shipper.terminate() == 0
    finally:
        shipper.stop()
        for process in processes:
            stop_process(process)
