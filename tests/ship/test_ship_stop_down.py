"""ClickHouse down: stopping the shipper keeps the retries' backoff through the grace period (no busy loop)
and gives up at its end with one line; the outage is one log line, without the driver's tracebacks or
the server's stack trace."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import httpx
import pytest

from ai_usage_monitor.ship.shipper import ShipOptions, Shipper
from ai_usage_monitor.ship.sink import ClickHouseSink
from ai_usage_monitor.ship.state import ShipState, state_path
from ai_usage_monitor.store_url import parse_store_url
from ai_usage_monitor.testing.processes import free_port
from tests.ship.helpers import ShipperProcess, recent_records, wait_until, write_with_exporter
from tests.ship.test_ship_outage import _failures
from tests.support.clickhouse import ClickHouseServer


def test_stop_while_down_keeps_backoff(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records_dir = tmp_path / "records"
    write_with_exporter(records_dir, recent_records(50, seed=61, days=0.01))
    url = parse_store_url(f"clickhouse://u:p@127.0.0.1:{free_port()}/db")  # nothing listens there
    sink = ClickHouseSink(url)
    options = ShipOptions(max_delay=0.01, retry_min=0.1, retry_max=0.4, stop_timeout=1.5)
    shipper = Shipper(records_dir, sink, ShipState.load(state_path(records_dir, "down")), options)
    stop = threading.Event()
    caplog.set_level(logging.WARNING, logger="ai_usage_monitor.ship")
    thread = threading.Thread(target=shipper.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: shipper.stats.failures >= 1, timeout=10, what="a failed insert")
        stopped_at = time.monotonic()
        stop.set()
        thread.join(timeout=10)
        took = time.monotonic() - stopped_at
    finally:
        stop.set()
        thread.join()
        sink.close()
    assert not thread.is_alive()
    # backoff of 0.1, 0.2, 0.4, 0.4 ... s over a 1.5 s grace: a handful of attempts, not thousands
    assert shipper.stats.failures <= 12
    assert took >= options.stop_timeout * 0.9
    assert shipper.stats.records == 0
    assert sum("not shipped" in r.getMessage() for r in caplog.records) == 1


def _failed_twice(port: int) -> bool:
    try:
        return _failures(port) >= 2
    except httpx.ConnectError:  # /metrics not up yet
        return False


def test_outage_is_one_line_without_driver_tracebacks(tmp_path: Path) -> None:
    records_dir = tmp_path / "records"
    write_with_exporter(records_dir, recent_records(20, seed=62, days=0.01))
    port = free_port()
    url = f"clickhouse://u:p@127.0.0.1:{free_port()}/db"  # nothing listens there
    shipper = ShipperProcess.start(records_dir, url, "--metrics-port", str(port), log=tmp_path / "ship.log")
    try:
        wait_until(lambda: _failed_twice(port), timeout=15, what="two failed attempts")
    finally:
        shipper.process.kill()  # SIGTERM would wait out the grace period
        shipper.process.wait()
    text = shipper.text()
    assert text.count("cannot ship to") == 1
    assert "Traceback" not in text and "clickhouse_driver" not in text


def test_a_server_error_is_one_line_without_its_stack_trace(
    tmp_path: Path, clickhouse_server: ClickHouseServer
) -> None:
    records_dir = tmp_path / "records"
    write_with_exporter(records_dir, recent_records(20, seed=63, days=0.01))
    url = clickhouse_server.url(clickhouse_server.new_database("missing"))  # never migrated
    shipper = ShipperProcess.start(records_dir, url, log=tmp_path / "ship.log")
    try:
        wait_until(lambda: "cannot ship to" in shipper.text(), timeout=15, what="a failed insert")
    finally:
        shipper.process.kill()
        shipper.process.wait()
    line = next(line for line in shipper.text().splitlines() if "cannot ship to" in line)
    assert "Code: 81" in line and "Stack trace" not in line and "StackTrace" not in line
