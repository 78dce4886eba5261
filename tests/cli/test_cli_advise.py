"""``ai-usage-monitor advise`` prints the advice the API serves, as a table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ai_usage_monitor.cli import app
from ai_usage_monitor.records import UsageRecord
from tests.api.helpers import SHANGHAI
from tests.insights.advice_records import hand_cost
from tests.support.records import write_records

runner = CliRunner()


@pytest.fixture
def records_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AI_USAGE_TIMEZONE", "Asia/Shanghai")
    for name in ("AI_USAGE_RECORDS_DIR", "AI_USAGE_INDEX_DIR", "AI_USAGE_CONFIG", "AI_USAGE_PRICING_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_USAGE_INDEX_DIR", str(tmp_path / "index"))
    folder = tmp_path / "records"
    now = time.time()
    record = UsageRecord(
        timestamp=now - 7200,
        provider="dashscope",
        model="qwen-plus",
        function="话术生成",
        input_tokens=1_000,
        output_tokens=500,
        reasoning_tokens=200,
        cost=hand_cost("qwen-plus", 1_000, 500, 0, 200),
        priced=True,
        success=False,
    )
    write_records(folder, [record], SHANGHAI)
    return folder


def test_advise_prints_a_table(records_dir: Path) -> None:
    result = runner.invoke(
        app, ["advise", "--days", "7", "--records-dir", str(records_dir)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "advice from the last 7 days, savings per month in CNY" in out
    assert "话术生成" in out
    for kind in ("cheaper_model", "thinking", "failures"):
        assert kind in out
    # qwen-flash bills the call 0.00015 + 0.00075 CNY; qwen-turbo 0.0003 + 0.0015 at its thinking price
    row = next(line for line in out.splitlines() if "cheaper_model" in line)
    assert "qwen-flash" in row


@pytest.mark.parametrize("days", ["0", "91"])
def test_advise_days_out_of_range(records_dir: Path, days: str) -> None:
    result = runner.invoke(
        app, ["advise", "--days", days, "--records-dir", str(records_dir)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert f"must be an integer from 1 to 90, not {days}" in result.output
