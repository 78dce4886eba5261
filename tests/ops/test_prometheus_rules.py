"""The production Prometheus and Alertmanager files, checked by the real promtool and amtool: config
and rules valid, every alert unit-tested firing and quiet, thresholds named once and documented."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops._support import PROMETHEUS_DIR, ROOT, load_yaml, rule_files, threshold_constants

UNIT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(str(args[0]))
    assert tool is not None, f"{args[0]} is not installed"
    return subprocess.run(
        [tool, *map(str, args[1:])], capture_output=True, text=True, timeout=120, check=False
    )


def _alert_names() -> list[str]:
    return [
        rule["alert"]
        for path in rule_files()
        for g in load_yaml(path)["groups"]
        for rule in g["rules"]
        if "alert" in rule
    ]


def test_promtool_accepts_prometheus_yml_with_its_rule_files() -> None:
    result = _run("promtool", "check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_files())} rule files found" in result.stdout + result.stderr
    assert {p.name for p in rule_files()} == {"rules.yml", "alerts.yml"}


def test_promtool_accepts_the_rules() -> None:
    result = _run("promtool", "check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    assert UNIT_TESTS, "no promtool unit tests in prometheus/tests/"
    result = _run("promtool", "test", "rules", *UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The unit tests really bind the rules: a budget alert moved from 100 % to 110 % breaks them."""
    for path in rule_files():
        text = path.read_text(encoding="utf-8")
        (tmp_path / path.name).write_text(
            text.replace("expr: ai_usage:budget_ratio >= 1\n", "expr: ai_usage:budget_ratio >= 1.1\n"),
            encoding="utf-8",
        )
    (tmp_path / "tests").mkdir()
    shutil.copy(PROMETHEUS_DIR / "tests" / "alerts_test.yml", tmp_path / "tests")
    result = _run("promtool", "test", "rules", tmp_path / "tests" / "alerts_test.yml")
    assert result.returncode != 0
    assert "AIUsageBudgetOverLimit" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(_alert_names())
    assert len(alerts) >= 6
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"


@pytest.mark.parametrize(
    "alert",
    [
        "AIUsageBudgetOverLimit",
        "AIUsageBudgetNearLimit",
        "AIUsageCostSpike",
        "AIUsageErrorRateHigh",
        "AIUsageUnpricedModel",
        "AIUsageNoRecords",
        "AIUsageLatencyP95High",
    ],
)
def test_the_alerts_the_issue_asks_for_exist(alert: str) -> None:
    assert alert in _alert_names()


def test_every_alert_is_labelled_for_routing_and_explained() -> None:
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                assert rule["labels"]["service"] == "ai-usage-monitor", rule["alert"]
                assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
                assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_thresholds_are_named_constants_used_by_the_alerts() -> None:
    constants = threshold_constants()
    assert {
        "ai_usage:error_ratio_limit",
        "ai_usage:p95_latency_limit_seconds",
        "ai_usage:no_records_limit_seconds",
        "ai_usage:cost_spike_ratio_limit",
    } <= set(constants)
    alerts_text = (PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8")
    for name in constants:
        assert name in alerts_text, f"{name} is defined but no alert uses it"


def test_docs_list_every_threshold_with_its_value() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\|\s*`(ai_usage:[a-z0-9_:]+)`\s*\|\s*([0-9.]+)\s*\|", docs, flags=re.MULTILINE))
    constants = threshold_constants()
    assert set(rows) == set(constants)
    for name, value in constants.items():
        assert float(rows[name]) == value, name


def test_amtool_accepts_alertmanager_yml() -> None:
    result = _run("amtool", "check-config", PROMETHEUS_DIR / "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_sends_every_alert_to_the_monitors_webhook() -> None:
    config = load_yaml(PROMETHEUS_DIR / "alertmanager.yml")
    receivers = {r["name"]: r for r in config["receivers"]}
    hooks = receivers[config["route"]["receiver"]]["webhook_configs"]
    assert [h["url"] for h in hooks] == ["http://monitor:10090/api/ai_usage/alerts/webhook"]
    assert hooks[0]["send_resolved"] is True


def test_amtool_routes_a_monitor_alert_to_the_webhook() -> None:
    result = _run(
        "amtool",
        "config",
        "routes",
        "test",
        "--config.file",
        PROMETHEUS_DIR / "alertmanager.yml",
        "alertname=AIUsageBudgetOverLimit",
        "service=ai-usage-monitor",
        "currency=CNY",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ai-usage-monitor"
