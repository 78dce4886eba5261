"""Stopping the shipper while ClickHouse is down: the retries keep their backoff through the grace period
(no busy loop) and it gives up at the grace end with one line."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from ai_usage_monitor.ship.shipper import ShipOptions, Shipper
from ai_usage_monitor.ship.sink import ClickHouseSink
from ai_usage_monitor.ship.state import ShipState, state_path
from ai_usage_monitor.store_url import parse_store_url
from ai_usage_monitor.testing.processes import free_port
from tests.ship.helpers import recent_records, wait_until, write_with_exporter


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
