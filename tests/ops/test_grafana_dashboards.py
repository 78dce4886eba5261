"""Grafana cannot run here (Debian does not package it), so the provisioning and dashboards are checked
as data: valid JSON, the provisioned datasource, the variables, units, layout, and budgets that agree
with the alert thresholds' gauges. That every panel query returns data is proven in test_stack_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ops._support import (
    DASHBOARD_FILES,
    GRAFANA_DIR,
    ROOT,
    iter_panels,
    load_dashboard,
    load_yaml,
    metric_names,
    panel_queries,
    threshold_constants,
)

CNY = "currency:¥"
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
FILTERED_COUNTERS = {"ai_usage_requests_total", "ai_usage_tokens_total", "ai_usage_cost_total"}
NO_TARGETS = {"row", "text"}


def _datasources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((GRAFANA_DIR / "provisioning" / "datasources").glob("*.yml")):
        found += load_yaml(path)["datasources"]
    return found


def _prometheus_uid() -> str:
    [prometheus] = [d for d in _datasources() if d["type"] == "prometheus"]
    uid: str = prometheus["uid"]
    return uid


def _dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: load_dashboard(path) for path in DASHBOARD_FILES}


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in iter_panels(dashboard) if p["type"] not in NO_TARGETS]


def test_the_three_dashboards_exist_and_parse() -> None:
    assert {p.stem for p in DASHBOARD_FILES} == {
        "ai-usage-overview",
        "ai-usage-drilldown",
        "ai-usage-budgets",
    }
    for path in DASHBOARD_FILES:
        json.loads(path.read_text(encoding="utf-8"))


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards() -> None:
    prometheus = next(d for d in _datasources() if d["type"] == "prometheus")
    assert prometheus["url"] == "http://prometheus:9090" and prometheus["access"] == "proxy"
    assert prometheus["isDefault"] is True
    assert (
        prometheus["jsonData"]["timeInterval"]
        == load_yaml(ROOT / "prometheus" / "prometheus.yml")["global"]["scrape_interval"]
    )
    [provider] = load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "ai-usage.yml")["providers"]
    assert provider["type"] == "file"
    compose = load_yaml(ROOT / "docker-compose.yml")
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/ai-usage-overview.json"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_dashboard_model(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] == path.stem and len(dashboard["uid"]) <= 40
    assert dashboard["title"].startswith("AI usage")
    assert "ai-usage" in dashboard["tags"]
    ids = [p["id"] for p in iter_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in iter_panels(dashboard):
        assert panel["title"], panel
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        assert pos["h"] > 0 and pos["y"] >= 0, panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_panels_do_not_overlap(path: Path) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in iter_panels(load_dashboard(path)):
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_every_query_uses_the_provisioned_datasource_through_the_variable(path: Path) -> None:
    dashboard = load_dashboard(path)
    variable = _variables(dashboard)["datasource"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    assert variable["current"]["value"] == _prometheus_uid()
    for panel in _panels(dashboard):
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REF, panel["title"]
            assert target["expr"].strip(), panel["title"]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE_REF, var["name"]


@pytest.mark.parametrize("stem", ["ai-usage-overview", "ai-usage-drilldown"])
def test_provider_model_function_variables_filter_every_counter_query(stem: str) -> None:
    dashboard = _dashboards()[stem]
    variables = _variables(dashboard)
    for name, label in (("provider", "provider"), ("model", "model"), ("function", "function")):
        var = variables[name]
        assert var["type"] == "query" and var["multi"] and var["includeAll"] and var["allValue"] == ".*"
        assert f", {label})" in var["query"] and "ai_usage_requests_total" in var["query"]
    for query in panel_queries(GRAFANA_DIR / "dashboards" / f"{stem}.json"):
        if metric_names(query.expr) & FILTERED_COUNTERS:
            for fragment in ('provider=~"$provider"', 'model=~"$model"', 'function=~"$function"'):
                assert fragment in query.expr, f"{query.id} ignores {fragment}"
        if "gen_ai_client_" in query.expr:
            assert 'gen_ai_provider_name=~"$provider"' in query.expr, query.id
            assert 'gen_ai_request_model=~"$model"' in query.expr, query.id


def _units(panel: dict[str, Any]) -> list[tuple[str, str]]:
    """(expr, unit) per target: a table column's unit comes from its override."""
    default = panel["fieldConfig"]["defaults"].get("unit", "")
    overrides = {
        o["matcher"]["options"]: next(p["value"] for p in o["properties"] if p["id"] == "unit")
        for o in panel["fieldConfig"].get("overrides", [])
        if any(p["id"] == "unit" for p in o["properties"])
    }
    return [(t["expr"], overrides.get(f"Value #{t['refId']}", default)) for t in panel["targets"]]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_units_money_tokens_seconds(path: Path) -> None:
    for panel in _panels(load_dashboard(path)):
        for expr, unit in _units(panel):
            names = metric_names(expr)
            where = f"{panel['title']}: {expr}"
            title = panel["title"].lower()
            if "÷" in title or "success rate" in title:
                assert unit == "percentunit", where
            elif any("cost" in n for n in names) or "budget" in expr:
                assert unit == CNY, where
            elif any(n.startswith(("ai_usage_tokens", "gen_ai_client_token_usage")) for n in names):
                assert unit == "short", where
            elif any(n.startswith("gen_ai_client_operation_duration") for n in names):
                assert unit == "s", where
            else:
                assert unit in {"short", "reqps", "s", "none", "percentunit"}, where


def test_drilldown_says_when_anchor_or_user_labels_are_off() -> None:
    dashboard = _dashboards()["ai-usage-drilldown"]
    text = " ".join(p["options"]["content"] for p in iter_panels(dashboard) if p["type"] == "text")
    assert "AI_USAGE_METRICS_ANCHOR_LABELS=true" in text and "AI_USAGE_METRICS_USER_LABELS=true" in text
    assert "`other`" in text
    variables = _variables(dashboard)
    assert "anchor_id)" in variables["anchor"]["query"] and "user_id)" in variables["user"]["query"]
    for panel in _panels(dashboard):
        exprs = " ".join(t["expr"] for t in panel["targets"])
        for label, env in (("anchor_id", "ANCHOR"), ("user_id", "USER")):
            if label in exprs:
                assert f"AI_USAGE_METRICS_{env}_LABELS=true" in panel["fieldConfig"]["defaults"].get(
                    "noValue", ""
                ), panel["title"]


def test_budgets_come_from_the_monitors_gauges_not_constants() -> None:
    dashboard = _dashboards()["ai-usage-budgets"]
    exprs = " ".join(t["expr"] for p in _panels(dashboard) for t in p["targets"])
    for gauge in ("ai_usage_budget_ratio", "ai_usage_budget_spent", "ai_usage_budget_limit"):
        assert gauge in exprs
    assert "ai_usage_budget_warning_ratio" in exprs
    assert not set(threshold_constants()) & metric_names(exprs)
    assert "$" not in exprs.replace("$__rate_interval", "")  # no dashboard variable stands for a budget
    assert set(_variables(dashboard)) == {"datasource"}


def test_overview_covers_what_the_issue_lists() -> None:
    titles = " | ".join(p["title"] for p in iter_panels(_dashboards()["ai-usage-overview"])).lower()
    for wanted in (
        "cost today",
        "cost this month",
        "cost per hour by model",
        "cost per hour by function",
        "tokens per second",
        "calls",
        "success rate",
        "p50 / p95",
        "unpriced models",
    ):
        assert wanted in titles, wanted
