"""`pricing show` and `pricing list`, run through Typer's test runner."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from ai_usage_monitor.pricing.cli import pricing_app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("AI_USAGE_CONFIG", "AI_USAGE_PRICING_FILE", "AI_USAGE_CURRENCY", "AI_USAGE_USD_CNY_RATE"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_show_prints_entry_source_date_and_tiers(runner: CliRunner) -> None:
    result = runner.invoke(pricing_app, ["show", "qwen-plus-2025-07-14"])
    assert result.exit_code == 0, result.output
    assert "dashscope/qwen-plus-2025-07-14 → dashscope/qwen-plus@2025-09-01" in result.output
    assert "in force from: 2025-09-01" in result.output
    assert "Model Studio" in result.output
    for cell in ("≤ 131,072", "131,073–262,144", "> 262,144", "0.00016", "0.064"):
        assert cell in result.output


def test_show_a_past_date_and_another_provider(runner: CliRunner) -> None:
    old = runner.invoke(pricing_app, ["show", "qwen-max", "--at", "2025-01-01"])
    assert "dashscope/qwen-max@undated" in old.output
    assert "0.06" in old.output
    gpt = runner.invoke(pricing_app, ["show", "gpt-4o-2024-08-06", "--provider", "openai"])
    assert gpt.exit_code == 0, gpt.output
    assert "genai-prices/openai/gpt-4o@undated" in gpt.output
    assert "USD per 1M tokens (recorded in CNY" in gpt.output


def test_show_an_unpriced_model_fails(runner: CliRunner) -> None:
    result = runner.invoke(pricing_app, ["show", "qwen-plus-character"])
    assert result.exit_code == 1
    assert "No price for qwen-plus-character at any provider" in result.output
    result = runner.invoke(pricing_app, ["show", "qwen-plus-character", "--provider", "dashscope"])
    assert result.exit_code == 1
    assert "No price for qwen-plus-character at dashscope" in result.output


def test_show_uses_the_override_file_and_reports_a_bad_one(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, write_toml: Any
) -> None:
    good = write_toml(
        '[[prices]]\nmodel = "mine"\ncurrency = "CNY"\nunit = "1K"\ninput = 0.5\noutput = 0.7\n'
    )
    monkeypatch.setenv("AI_USAGE_PRICING_FILE", str(good))
    result = runner.invoke(pricing_app, ["show", "mine", "--provider", "openai"])
    assert result.exit_code == 0, result.output
    assert "override/mine@undated" in result.output
    bad = write_toml('[[prices]]\nmodel = "mine"\n', name="bad.toml")
    monkeypatch.setenv("AI_USAGE_PRICING_FILE", str(bad))
    result = runner.invoke(pricing_app, ["show", "mine"])
    assert result.exit_code == 2
    assert "bad.toml" in result.output
    assert "field 'currency': is required" in result.output


def test_list_prints_the_catalogue_with_history(runner: CliRunner) -> None:
    result = runner.invoke(pricing_app, ["list"])
    assert result.exit_code == 0, result.output
    for model in (
        "qwen-plus",
        "qwen-turbo",
        "qwen-flash",
        "qwen-max",
        "qwen-long",
        "qwen-vl-plus",
        "qwen-vl-max",
    ):
        assert model in result.output
    assert "undated" in result.output
    assert "0.0096" in result.output
