"""``ai-usage-monitor forecast`` and ``get_usage_monitor().get_forecast()`` over records the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ai_usage_monitor import get_usage_monitor
from ai_usage_monitor.cli import app
from tests.api.helpers import SHANGHAI, settle_clock
from tests.api.test_api_forecast import hand_forecast, short_history
from tests.support.records import write_records


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_USAGE_TIMEZONE", "Asia/Shanghai")
    for name in ("AI_USAGE_RECORDS_DIR", "AI_USAGE_INDEX_DIR", "AI_USAGE_API_TOKEN", "AI_USAGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_cli_prints_the_forecast_table(env: None, tmp_path: Path) -> None:
    now = settle_clock(margin=60.0)
    records = short_history(now)
    write_records(tmp_path / "records", records, SHANGHAI)
    result = CliRunner().invoke(
        app, ["forecast", "--scope", "model", "--records-dir", str(tmp_path / "records")]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for key in ("all", "qwen-plus", "qwen-max"):
        row = next(line for line in lines if f" {key} " in line)
        hand = hand_forecast(records, now, None if key == "all" else key)
        assert f"{hand['expected']:,.4f}" in row and f"{hand['high']:,.4f}" in row
        assert "month_to_date_only" in row
    assert f"today {now.date().isoformat()}: spent 0.0500" in result.stdout


def test_cli_refuses_an_unknown_scope(env: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["forecast", "--scope", "user", "--records-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "user" in result.output


def test_python_api_gives_the_rest_shape(env: None, tmp_path: Path) -> None:
    now = settle_clock(margin=60.0)
    records = short_history(now)
    write_records(tmp_path / "records", records, SHANGHAI)
    data = get_usage_monitor(tmp_path / "records", "Asia/Shanghai").get_forecast(scope="model")
    entries = {e["key"]: e for e in data["forecast"]}
    assert entries["qwen-max"]["expected"] == pytest.approx(
        hand_forecast(records, now, "qwen-max")["expected"]
    )
    assert data["budgets"] == []
    with pytest.raises(ValueError, match="scope must be one of"):
        get_usage_monitor(tmp_path / "records", "Asia/Shanghai").get_forecast(scope="user")
