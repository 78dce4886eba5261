"""`pricing show` finding the provider itself, `pricing unpriced` and `pricing diff`, run through the real
CLI (the ``ai-usage-monitor`` Typer app) over records written to a folder."""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from ai_usage_monitor.cli import _add_optional_commands, app
from ai_usage_monitor.records import UsageRecord
from tests.support.records import write_records

runner = CliRunner()
_add_optional_commands()  # what the console script does before running the app
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = 86400
#: yesterday 12:00 UTC: off-peak for DeepSeek (peak is 01-04 and 06-10 UTC)
NOON = (int(time.time()) // DAY - 1) * DAY + 12 * 3600


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_USAGE_TIMEZONE", "Asia/Shanghai")
    for name in (
        "AI_USAGE_RECORDS_DIR",
        "AI_USAGE_INDEX_DIR",
        "AI_USAGE_CONFIG",
        "AI_USAGE_PRICING_FILE",
        "AI_USAGE_CURRENCY",
        "AI_USAGE_USD_CNY_RATE",
    ):
        monkeypatch.delenv(name, raising=False)


def _call(
    provider: str, model: str, ts: float, tokens: tuple[int, int, int] | None, **fields: object
) -> UsageRecord:
    """A record of one call: ``tokens`` is (input, cached, output), ``None`` for a call without usage."""
    usage = (
        {}
        if tokens is None
        else {"input_tokens": tokens[0], "cached_tokens": tokens[1], "output_tokens": tokens[2]}
    )
    return UsageRecord(timestamp=ts, provider=provider, model=model, source="openai", **usage, **fields)  # type: ignore[arg-type]


def _cli(*args: str) -> str:
    result = runner.invoke(app, ["pricing", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_show_finds_the_provider_of_a_model_itself() -> None:
    output = _cli("show", "gpt-4o-mini")
    assert "openai/gpt-4o-mini → genai-prices/openai/gpt-4o-mini@undated" in output
    assert "azure.ai.openai/gpt-4o-mini → genai-prices/azure/gpt-4o-mini" in output, "every match is listed"
    assert "prices match gpt-4o-mini" in output

    deepseek = _cli("show", "deepseek-flash", "--at", "2026-12-01")
    assert "deepseek/deepseek-flash → deepseek/deepseek-flash@2026-09-10" in deepseek
    assert "CNY per 1M tokens" in deepseek
    assert "api-docs.deepseek.com" in deepseek


def test_unpriced_lists_the_models_at_risk_with_calls_and_tokens(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    write_records(
        folder,
        [
            _call("llm.corp.example", "mystery-1", NOON, (1000, 0, 200)),
            _call("llm.corp.example", "mystery-1", NOON + 60, (3000, 500, 400)),
            _call(
                "llm.corp.example", "mystery-1", NOON + 120, None, success=False
            ),  # no usage: no tokens at risk
            _call(
                "llm.corp.example", "mystery-1", NOON - 10 * DAY, (50_000, 0, 50_000)
            ),  # older than --days 7
            _call("zhipu", "glm-5.3", NOON, (700, 0, 70)),  # written before the price existed
            _call("openai", "gpt-4o-mini", NOON, (900, 0, 90), priced=True, cost=0.01, price_ref="x"),
        ],
        SHANGHAI,
    )
    output = _cli("unpriced", "--days", "7", "--records-dir", str(folder))
    lines = {line.split("│")[2].strip(): line for line in output.splitlines() if line.count("│") > 6}
    assert set(lines) == {"mystery-1", "glm-5.3"}
    cells = [cell.strip() for cell in lines["mystery-1"].split("│")[1:-1]]
    assert cells[:5] == ["llm.corp.example", "mystery-1", "2", "4,000", "600"]
    assert cells[6] == "no"
    assert "zhipu/glm-5.3@2026-08-18" in lines["glm-5.3"], "priced by today's data, though recorded at 0"
    assert list(lines) == ["mystery-1", "glm-5.3"], "most tokens first"

    month = _cli("unpriced", "--days", "30", "--records-dir", str(folder))
    assert "54,000" in month and "50,600" in month


def test_unpriced_with_nothing_unpriced(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    write_records(
        folder, [_call("openai", "gpt-4o-mini", NOON, (9, 0, 9), priced=True, price_ref="x")], SHANGHAI
    )
    assert "was priced" in _cli("unpriced", "--records-dir", str(folder))


def test_diff_reprices_the_last_days_with_both_catalogues(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    big = (1_000_000, 200_000, 500_000)
    write_records(
        folder,
        [
            _call("deepseek", "deepseek-flash", NOON, big),
            _call("deepseek", "deepseek-flash", NOON + 3600, big),
            _call("openai", "gpt-4o-mini", NOON, (1000, 0, 100)),
            _call("deepseek", "deepseek-flash", NOON - 40 * DAY, big),  # outside the 30 days
        ],
        SHANGHAI,
    )
    doubled = tmp_path / "doubled.toml"
    doubled.write_text(
        'provider = "deepseek"\ncurrency = "CNY"\nunit = "1M"\n\n'
        '[[prices]]\nmodel = "deepseek-flash"\ninput = 2.0\ncached_input = 0.04\noutput = 8.0\n',
        encoding="utf-8",
    )
    # by hand, per call: off-peak 0.8M × 1 + 0.2M × 0.02 + 0.5M × 4 = 2.804; doubled: 5.608
    output = _cli("diff", "builtin", str(doubled), "--records-dir", str(folder))
    row = next(line for line in output.splitlines() if "deepseek-flash" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == ["deepseek", "deepseek-flash", "2", "5.6080", "11.2160", "+5.6080 (+100%)"]
    assert "gpt-4o-mini" not in output.split("total")[0], "unchanged models are only counted in the total"
    assert "1 of 2 models change." in output

    back = _cli("diff", str(doubled), "builtin", "--records-dir", str(folder))
    assert "-5.6080 (-50%)" in back


def test_diff_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    write_records(folder, [_call("openai", "gpt-4o-mini", NOON, (9, 0, 9))], SHANGHAI)
    result = runner.invoke(
        app, ["pricing", "diff", "builtin", str(tmp_path / "nope.toml"), "--records-dir", str(folder)]
    )
    assert result.exit_code == 2
    assert "neither a pricing file nor 'builtin'" in result.output
