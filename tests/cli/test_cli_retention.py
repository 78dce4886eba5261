"""Retention through the real ``ai-usage-monitor`` entry point: ``retention [--dry-run]``, ``reindex`` over
gzipped days, bad settings refused in one line, and a running ``serve`` that compresses old days and drops
old index rows without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.testing.processes import interrupt_process
from tests.api.helpers import SHANGHAI
from tests.cli.test_setup_errors import one_line_error, run_cli
from tests.store.helpers import make_records
from tests.support.processes import free_port
from tests.support.records import record_file, write_records

NOW = time.time()
DAY = 86400.0


def aged(folder: Path) -> Path:
    """``folder``'s day files made to look untouched for two hours (retention leaves recent ones)."""
    for path in folder.glob("usage_*.jsonl"):
        os.utime(path, (NOW - 7200, NOW - 7200))
    return folder


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, SHANGHAI).date().isoformat()


def test_retention_command_dry_run_then_for_real_and_reindex_reads_gz(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    records = make_records(120, NOW - 9 * DAY, NOW)
    write_records(folder, records, SHANGHAI)
    aged(folder)
    plain = sorted(p.name for p in folder.glob("usage_*.jsonl"))
    old = [n for n in plain if n < f"usage_{day_of(NOW - 3 * DAY)}.jsonl"]
    env = {"AI_USAGE_RECORDS_DIR": str(folder), "AI_USAGE_RETENTION_DAYS": "3"}

    dry = run_cli(["retention", "--dry-run"], tmp_path, **env)
    assert dry.returncode == 0, dry.stderr
    assert f"would compress {len(old)} day files" in dry.stdout
    assert sorted(p.name for p in folder.glob("usage_*.jsonl")) == plain

    done = run_cli(["retention"], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert f"compressed {len(old)} day files" in done.stdout
    assert sorted(p.name for p in folder.glob("*.gz")) == [f"{n}.gz" for n in old]

    again = run_cli(["reindex"], tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert f"indexed {len(records)} records" in again.stdout


def test_bad_retention_settings_are_one_line(tmp_path: Path) -> None:
    done = run_cli(["retention"], tmp_path, AI_USAGE_INDEX_RETENTION_DAYS="7")
    line = one_line_error(done, "AI_USAGE_INDEX_RETENTION_DAYS", "index_retention_days", "'7'")
    assert "at least 31" in line
    done = run_cli(["serve"], tmp_path, AI_USAGE_RETENTION_DAYS="-2")
    one_line_error(done, "AI_USAGE_RETENTION_DAYS", "retention_days")
    config = tmp_path / "monitor.toml"
    config.write_text("retention_days = 7\nindex_retention_days = 30\n")
    done = run_cli(["report"], tmp_path, AI_USAGE_CONFIG=str(config))
    one_line_error(done, "index_retention_days", str(config))


@dataclass
class Served:
    """A running ``ai-usage-monitor serve`` and a client of it."""

    client: httpx.Client
    process: subprocess.Popen[bytes]

    def health(self) -> dict[str, Any]:
        return dict(self.client.get("/health").json())

    def until(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.process.communicate()[1].decode()
            try:
                if condition():
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never got there"
            time.sleep(0.1)


@contextmanager
def serving(**env: str) -> Iterator[Served]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from ai_usage_monitor.cli import main; main()", "serve", "--port", str(port)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AI_USAGE_")}, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    served = Served(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5), process)
    try:
        served.until(lambda: served.client.get("/health").status_code == 200)
        yield served
    finally:
        served.client.close()
        interrupt_process(process)


def test_running_server_compresses_old_days_and_drops_old_rows(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    recent = make_records(150, NOW - 20 * DAY, NOW, seed=11)
    write_records(folder, recent, SHANGHAI)
    aged(folder)
    env = {
        "AI_USAGE_TIMEZONE": "Asia/Shanghai",
        "AI_USAGE_RECORDS_DIR": str(folder),
        "AI_USAGE_RETENTION_DAYS": "2",
        "AI_USAGE_INDEX_RETENTION_DAYS": "31",
        "AI_USAGE_RETENTION_INTERVAL": "0.3",
    }
    some_day = NOW - 6 * DAY
    day_cost = sum(r.cost for r in recent if day_of(r.timestamp) == day_of(some_day))
    with serving(**env) as served:
        client = served.client
        first_kept = f"usage_{day_of(NOW - 2 * DAY)}.jsonl"
        served.until(lambda: not [p for p in folder.glob("usage_*.jsonl") if p.name < first_kept])
        assert list(folder.glob("*.gz"))
        assert served.health()["records_indexed"] == len(recent)
        assert served.health()["duplicate_records"] == 0
        daily = client.get("/api/ai_usage/stats/daily", params={"days_ago": 6}).json()
        assert round(daily["total_cost"], 9) == round(day_cost, 9)

        # records of days past the index limit, arriving while the server runs: indexed, then dropped
        expired = [
            UsageRecord(timestamp=NOW - 45 * DAY + i, model="expired-model", cost=1.0, priced=True)
            for i in range(30)
        ]
        write_records(folder, expired, SHANGHAI)
        files = served.health()["files"]
        served.until(lambda: served.health()["files"] == files + 1)
        served.until(lambda: served.health()["rows_expired"] == len(expired))
        assert served.health()["records_indexed"] == len(recent)
        when = datetime.fromtimestamp(expired[0].timestamp, SHANGHAI)
        month = client.get("/api/ai_usage/stats/monthly", params={"year": when.year, "month": when.month})
        assert "expired-model" not in month.json()["by_model"]
        # /metrics counters keep what the dropped rows counted: none goes down
        requests = {
            sample.labels["model"]: sample.value
            for family in text_string_to_metric_families(client.get("/metrics").text)
            if family.name == "ai_usage_requests"
            for sample in family.samples
            if sample.name == "ai_usage_requests_total"
        }
        assert requests["expired-model"] == len(expired)
        daily = client.get("/api/ai_usage/stats/daily", params={"days_ago": 6}).json()
        assert round(daily["total_cost"], 9) == round(day_cost, 9)
        assert record_file(folder, SHANGHAI, expired[0].timestamp).exists()  # the JSONL stays the truth

        # by hand while the server holds the index: day files only (the server's own pass may be first)
        aged(folder)
        by_hand = run_cli(["retention"], tmp_path, **env)
        assert by_hand.returncode == 0, by_hand.stderr
        assert "left to the server holding the index" in by_hand.stdout
        assert "in use" in by_hand.stderr
        served.until(lambda: not record_file(folder, SHANGHAI, expired[0].timestamp).exists())
        assert served.health()["records_indexed"] == len(recent)
