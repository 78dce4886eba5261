"""The ``ai-usage-monitor`` command: reports in three formats, reindex, clear errors, and ``serve``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ai_usage_monitor.cli import app
from ai_usage_monitor.testing.processes import interrupt_process
from tests.api.conftest import boundary_records
from tests.api.helpers import SHANGHAI, aggregate, last_days_window, settle_clock
from tests.support.processes import free_port
from tests.support.records import write_records

runner = CliRunner()


@pytest.fixture
def records_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AI_USAGE_TIMEZONE", "Asia/Shanghai")
    for name in ("AI_USAGE_RECORDS_DIR", "AI_USAGE_INDEX_DIR", "AI_USAGE_API_TOKEN", "AI_USAGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "records"
    write_records(folder, boundary_records(settle_clock()), SHANGHAI)
    yield folder


def expected_week(folder: Path) -> dict[str, Any]:
    from ai_usage_monitor.records import UsageRecord
    from tests.support.records import read_records

    records = [UsageRecord.from_dict(r) for r in read_records(folder)]
    return aggregate(records, last_days_window(settle_clock().date(), 7))


def test_report_json_to_stdout(records_dir: Path) -> None:
    result = runner.invoke(
        app, ["report", "--days", "7", "--format", "json", "--records-dir", str(records_dir)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    want = expected_week(records_dir)
    text = json.dumps(report, ensure_ascii=False)
    assert "实时分析" in text
    assert report["period"]["days"] == 7
    assert report["totals"]["calls"] == want["calls"]
    assert report["totals"]["cost"] == pytest.approx(want["cost"])
    assert report["by_function"]["实时分析"]["calls"] == want["by_function"]["实时分析"]["calls"]


def test_report_csv_to_stdout(records_dir: Path) -> None:
    result = runner.invoke(
        app, ["report", "--days", "7", "--format", "csv", "--records-dir", str(records_dir)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout.lstrip("\ufeff"))))
    assert len(rows) >= 2
    assert "实时分析" in result.stdout


def test_report_table(records_dir: Path) -> None:
    result = runner.invoke(app, ["report", "--days", "7", "--records-dir", str(records_dir)])
    assert result.exit_code == 0, result.output
    want = expected_week(records_dir)
    assert "实时分析" in result.stdout
    assert str(want["calls"]) in result.stdout


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_report_to_a_file(records_dir: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out" / f"report.{fmt}"
    result = runner.invoke(
        app, ["report", "--days", "30", "--format", fmt, "-o", str(out), "--records-dir", str(records_dir)]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 0
    assert "实时分析" in out.read_text(encoding="utf-8-sig")
    if fmt == "json":
        assert json.loads(out.read_text(encoding="utf-8"))["period"]["days"] == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--records-dir", "/nonexistent/records"], "does not exist"),
        (["report", "--days", "0"], "must be an integer from 1 to 366, not 0"),
        (["report", "--days", "367"], "must be an integer from 1 to 366, not 367"),
        (["report", "--format", "xml"], "xml"),
        (["reindex", "--records-dir", "/nonexistent/records"], "does not exist"),
    ],
)
def test_bad_input_is_a_clear_error(records_dir: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_reindex_rebuilds_the_index(records_dir: Path) -> None:
    first = runner.invoke(app, ["reindex", "--records-dir", str(records_dir)])
    assert first.exit_code == 0, first.output
    count = len(boundary_records(settle_clock()))
    assert f"indexed {count} records" in first.stdout
    assert (records_dir / ".index").is_dir()
    write_records(records_dir, boundary_records(settle_clock())[:3], SHANGHAI)
    again = runner.invoke(app, ["reindex", "--records-dir", str(records_dir)])
    assert again.exit_code == 0, again.output
    assert f"indexed {count + 3} records" in again.stdout


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from ai_usage_monitor.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("serve", "report", "reindex", "demo", "pricing"):
        assert command in done.stdout


def test_serve_answers_health_and_guards_the_api(records_dir: Path) -> None:
    port = free_port()
    env = {**os.environ, "AI_USAGE_API_TOKEN": "cli-token", "AI_USAGE_TIMEZONE": "Asia/Shanghai"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ai_usage_monitor.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--records-dir",
            str(records_dir),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.communicate()[1].decode()
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.json()["records_indexed"] == len(boundary_records(settle_clock()))
        assert httpx.get(f"{url}/api/ai_usage/stats/current").status_code == 401
        ok = httpx.get(f"{url}/api/ai_usage/stats/current", headers={"Authorization": "Bearer cli-token"})
        assert ok.status_code == 200
        assert ok.json()["today"]["calls"] >= 2
    finally:
        interrupt_process(process)
    assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
