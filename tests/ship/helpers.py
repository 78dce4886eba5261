"""Shipper processes, records written by the real writer, and the totals ClickHouse holds after ``FINAL``."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ai_usage_monitor.exporter.jsonl import JsonlExporter
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.ship.state import ShipState, state_path
from ai_usage_monitor.store.clickhouse import ClickHouseClient, migrate
from ai_usage_monitor.store_url import parse_store_url
from ai_usage_monitor.testing.processes import stop_process
from tests.store.helpers import make_records

__all__ = [
    "TZ",
    "ShipperProcess",
    "Totals",
    "clickhouse_totals",
    "day_records",
    "expected_totals",
    "migrated",
    "recent_records",
    "run_cli",
    "wait_until",
    "write_with_exporter",
]

TZ = ZoneInfo("Asia/Shanghai")
_CLI = "from ai_usage_monitor.cli import main; main()"


@dataclass(frozen=True)
class Totals:
    count: int
    cost: float
    input_tokens: int
    output_tokens: int

    def matches(self, other: Totals) -> bool:
        return (self.count, self.input_tokens, self.output_tokens) == (
            other.count,
            other.input_tokens,
            other.output_tokens,
        ) and math.isclose(self.cost, other.cost, rel_tol=1e-9, abs_tol=1e-9)


def expected_totals(records: Iterable[UsageRecord]) -> Totals:
    """The hand sums the shipped table must equal."""
    items = list(records)
    return Totals(
        len(items),
        math.fsum(r.cost for r in items),
        sum(r.input_tokens or 0 for r in items),
        sum(r.output_tokens or 0 for r in items),
    )


def migrated(url: str) -> ClickHouseClient:
    """A client of ``url``'s database, created by the store's migration."""
    client = ClickHouseClient(parse_store_url(url))
    migrate(client)
    return client


def clickhouse_totals(client: ClickHouseClient) -> Totals:
    """Count, cost and tokens of the ``records`` table, each record once (``FINAL``)."""
    count, cost, inp, out = client.execute(
        "SELECT count(), sum(cost), sum(input_tokens), sum(output_tokens) FROM records FINAL"
    )[0]
    return Totals(int(count), float(cost), int(inp or 0), int(out or 0))


def write_with_exporter(records_dir: Path, records: Sequence[UsageRecord]) -> JsonlExporter:
    """Write ``records`` through the real JSONL writer (daily files in Asia/Shanghai), then close it."""
    exporter = JsonlExporter(records_dir, TZ)
    try:
        for record in records:
            assert exporter.export(record)
    finally:
        exporter.close()
    return exporter


def recent_records(n: int, seed: int, days: float = 3.0) -> list[UsageRecord]:
    """``n`` varied records over the last ``days`` days (several daily files)."""
    now = time.time()
    return make_records(n, now - days * 86400, now - 60, seed=seed)


def day_records(n: int, seed: int, days_ago: int) -> list[UsageRecord]:
    """``n`` varied records within an hour after local noon ``days_ago`` days ago (one daily file)."""
    noon = datetime.now(TZ).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return make_records(n, noon.timestamp(), noon.timestamp() + 3600, seed=seed)


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@dataclass
class ShipperProcess:
    """An ``ai-usage-monitor ship`` process with its log file."""

    process: subprocess.Popen[bytes]
    log: Path
    records_dir: Path
    name: str

    @classmethod
    def start(
        cls,
        records_dir: Path,
        url: str,
        *args: str,
        log: Path,
        env: dict[str, str] | None = None,
    ) -> ShipperProcess:
        command = [sys.executable, "-c", _CLI, "ship", "--store", url, "--records-dir", str(records_dir)]
        command += ["--max-delay", "0.1", *args]
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=records_dir.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        url_ = parse_store_url(url)
        return cls(process, log, records_dir, f"{url_.host}_{url_.port}_{url_.database}")

    @property
    def state(self) -> ShipState:
        return ShipState.load(state_path(self.records_dir, self.name))

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, and the exit code once it stopped."""
        self.process.terminate()
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process)
