"""Two hosts (two records folders) ship into one ClickHouse; one shipper is SIGKILLed after an insert was
acknowledged but before its offsets were committed, then restarted: the totals equal the records written,
exactly. Two shippers reading the same folder by mistake add no record twice either."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import orjson

from ai_usage_monitor.ship.hold import HOLD_ENV
from ai_usage_monitor.ship.state import state_path
from ai_usage_monitor.store.clickhouse import ClickHouseClient
from tests.ship.helpers import (
    ShipperProcess,
    clickhouse_totals,
    expected_totals,
    migrated,
    recent_records,
    wait_until,
    write_with_exporter,
)

BATCH = 400


def _ids_in_file_order(records_dir: Path, n: int) -> list[str]:
    """The ``record_id`` of the first ``n`` lines, files oldest first (the order a shipper reads them)."""
    ids: list[str] = []
    for path in sorted(records_dir.glob("usage_*.jsonl")):
        ids += [orjson.loads(line)["record_id"] for line in path.read_bytes().splitlines()]
    return ids[:n]


def _count_of(client: ClickHouseClient, ids: list[str]) -> int:
    return int(client.execute("SELECT count() FROM records FINAL WHERE has(?, record_id)", [ids])[0][0])


def test_two_hosts_one_killed_between_insert_and_commit(tmp_path: Path, clickhouse_url: str) -> None:
    client = migrated(clickhouse_url)
    host_a, host_b = tmp_path / "host-a" / "records", tmp_path / "host-b" / "records"
    records_a, records_b = recent_records(2000, seed=21), recent_records(1500, seed=22)
    write_with_exporter(host_a, records_a)
    write_with_exporter(host_b, records_b)
    a = ShipperProcess.start(
        host_a, clickhouse_url, "--batch-size", str(BATCH), log=tmp_path / "a.log", env={HOLD_ENV: "2"}
    )
    b = ShipperProcess.start(host_b, clickhouse_url, "--batch-size", str(BATCH), log=tmp_path / "b.log")
    try:
        marker = state_path(host_a, a.name).with_suffix(".held")
        wait_until(marker.exists, what="shipper A holding after its second insert")
        # the second batch is in ClickHouse, but only the first batch's offsets are committed
        assert _count_of(client, _ids_in_file_order(host_a, 2 * BATCH)) == 2 * BATCH
        assert a.state.records == BATCH
        os.kill(a.process.pid, signal.SIGKILL)
        a.process.wait(timeout=10)
        restarted = ShipperProcess.start(
            host_a, clickhouse_url, "--batch-size", str(BATCH), log=tmp_path / "a2.log"
        )
        try:
            want = expected_totals(records_a + records_b)
            wait_until(
                lambda: restarted.state.records == len(records_a) and b.state.records == len(records_b),
                what="both hosts shipped",
            )
            # the batch shipped again counts once
            assert clickhouse_totals(client).matches(want)
            assert restarted.terminate() == 0
            assert b.terminate() == 0
        finally:
            restarted.stop()
    finally:
        a.stop()
        b.stop()
        marker.unlink(missing_ok=True)


def test_two_shippers_on_the_same_folder_add_nothing_twice(tmp_path: Path, clickhouse_url: str) -> None:
    client = migrated(clickhouse_url)
    records_dir = tmp_path / "records"
    first = recent_records(1500, seed=31)
    write_with_exporter(records_dir, first)
    shippers = [
        ShipperProcess.start(records_dir, clickhouse_url, "--batch-size", "300", log=tmp_path / f"{i}.log")
        for i in range(2)
    ]
    try:
        more = recent_records(800, seed=32, days=0.01)
        write_with_exporter(records_dir, more)  # appended while both read
        want = expected_totals(first + more)
        wait_until(lambda: clickhouse_totals(client).count == want.count, what="all records shipped")
        for shipper in shippers:
            assert shipper.terminate() == 0
        assert clickhouse_totals(client).matches(want)
    finally:
        for shipper in shippers:
            shipper.stop()
