"""The whole stack for real: the monitor over records this test writes, Prometheus (production rules,
scrape and alerting config with local addresses) and Alertmanager (production routing).

Proves that every Grafana panel query returns data, that every metric a panel or rule selects is one
/metrics exposes, and that records over a daily budget reach the monitor's webhook as a firing alert.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.ops._support import (
    DASHBOARD_FILES,
    PROMETHEUS_DIR,
    load_dashboard,
    load_yaml,
    metric_names,
    panel_queries,
    recorded_names,
    rule_files,
    substitute,
    variable_values,
)
from tests.support.alertmanager import AlertmanagerServer
from tests.support.prometheus import PrometheusServer
from tests.support.records import write_records
from tests.support.servers import serve_monitor

# The stack is started once per module: keep these tests on one xdist worker (`--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("ops-stack")

TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)
MONITOR_JOB = "ai-usage-monitor"


def _record(
    provider: str,
    model: str,
    function: str,
    cost: float,
    duration_ms: float = 800.0,
    *,
    anchor: str,
    user: str,
    ok: bool = True,
    priced: bool = True,
) -> UsageRecord:
    return UsageRecord(
        timestamp=time.time(),
        user_id=user,
        anchor_id=anchor,
        session_id=f"session-{anchor}",
        model=model,
        function=function,
        input_tokens=2000 if ok else None,
        output_tokens=700 if ok else None,
        total_tokens=2700 if ok else None,
        cost=cost,
        duration_ms=duration_ms,
        success=ok,
        error_msg=None if ok else "rate limited",
        error_type=None if ok else "RateLimitError",
        provider=provider,
        cached_tokens=500 if ok else None,
        reasoning_tokens=100 if ok else None,
        priced=priced,
        source="manual",
    )


def _batch(plus: tuple[float, float], max_: tuple[float, float]) -> list[UsageRecord]:
    """The same four calls each time: qwen-plus and qwen-max at ``(cost, duration_ms)``, one failed OpenAI
    call and one unpriced model."""
    return [
        _record("dashscope", "qwen-plus", "实时分析", *plus, anchor="anchor_1", user="user_1"),
        _record("dashscope", "qwen-max", "话术生成", *max_, anchor="anchor_2", user="user_2"),
        _record("openai", "gpt-4o-mini", "实时分析", 0.0, anchor="anchor_1", user="user_3", ok=False),
        _record(
            "dashscope", "qwen-unlisted", "实时分析", 0.0, anchor="anchor_2", user="user_1", priced=False
        ),
    ]


#: the monitor's budgets: the first batch (215 CNY, anchor_1 120 of it) passes the daily one and brings
#: anchor_1 to 80 % of its quota, its warning threshold
BUDGETS = [
    {"name": "daily-total", "period": "day", "limit": 200.0},
    {"name": "主播月度额度", "period": "month", "limit": 150.0, "scope": {"anchor_id": "*"}},
]


def _first_batch() -> list[UsageRecord]:
    """Worth 215 CNY today: over the 200 CNY daily budget of ``BUDGETS``."""
    return _batch(plus=(120.0, 1234.5), max_=(95.0, 5600.0))


def _second_batch() -> list[UsageRecord]:
    """Written while Prometheus scrapes, so that rates and increases are not zero."""
    return _batch(plus=(1.5, 900.0), max_=(2.0, 7000.0))


def _wait_clear_of_midnight() -> None:
    """The test's records must all fall on one local day: never start within 90 s of midnight."""
    now = datetime.now(ZONE)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    left = (midnight - now).total_seconds()
    if left < 90:
        time.sleep(left + 1)


def _prometheus_jobs(monitor_url: str, alertmanager: str) -> list[dict[str, Any]]:
    """The production scrape jobs, pointed at the local servers (Prometheus' self-scrape left out)."""
    targets = {MONITOR_JOB: urlsplit(monitor_url).netloc, "alertmanager": alertmanager}
    jobs = []
    for job in load_yaml(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]:
        if job["job_name"] in targets:
            jobs.append({**job, "static_configs": [{"targets": [targets[job["job_name"]]]}]})
    return jobs


def _alertmanager_config(monitor_url: str) -> dict[str, Any]:
    """The production Alertmanager config with its webhook aimed at the local monitor (same path)."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_DIR / "alertmanager.yml")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = monitor_url + urlsplit(hook["url"]).path
    return config


@dataclass
class Stack:
    monitor_url: str
    prometheus: PrometheusServer
    alertmanager: AlertmanagerServer
    first_batch_cost: float
    total_cost: float
    total_calls: int


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _wait_clear_of_midnight()
    base = tmp_path_factory.mktemp("ops-stack")
    records_dir = base / "records"
    records_dir.mkdir()
    first, second = _first_batch(), _second_batch()
    write_records(records_dir, first, ZONE)
    settings = Settings(
        records_dir=records_dir,
        index_dir=base / "index",
        timezone=TZ,
        metrics_user_labels=True,
        metrics_anchor_labels=True,
        raise_internal_errors=True,
        budgets=BUDGETS,
    )
    with serve_monitor(settings) as monitor_url:
        alertmanager = AlertmanagerServer.start(base / "alertmanager", _alertmanager_config(monitor_url))
        try:
            rules = {path.name: path.read_text(encoding="utf-8") for path in rule_files()}
            with PrometheusServer.start(
                base / "prometheus",
                scrape_configs=_prometheus_jobs(monitor_url, alertmanager.address),
                rules=rules,
                alertmanagers=[alertmanager.address],
                interval="1s",
            ) as prometheus:
                prometheus.wait_for_target_up(MONITOR_JOB)
                prometheus.wait_for(f'count_over_time(up{{job="{MONITOR_JOB}"}}[1m]) >= 3', timeout=20)
                write_records(records_dir, second, ZONE)
                calls = len(first) + len(second)
                prometheus.wait_for(
                    "sum(ai_usage_requests_total)",
                    lambda result: bool(result) and float(result[0]["value"][1]) == calls,
                    timeout=20,
                )
                # two more scrapes, so that windows ending now hold the new values twice
                time.sleep(2.5)
                yield Stack(
                    monitor_url=monitor_url,
                    prometheus=prometheus,
                    alertmanager=alertmanager,
                    first_batch_cost=sum(r.cost for r in first),
                    total_cost=sum(r.cost for r in first + second),
                    total_calls=calls,
                )
        finally:
            alertmanager.stop()


def test_every_grafana_panel_query_runs_and_returns_data(stack: Stack) -> None:
    problems = []
    checked = 0
    for path in DASHBOARD_FILES:
        values = variable_values(load_dashboard(path))
        for query in panel_queries(path):
            promql = substitute(query.expr, values)
            try:
                result = (
                    stack.prometheus.query(promql)
                    if query.instant
                    else stack.prometheus.query_range(promql, step="2")
                )
            except Exception as exc:  # every failing panel is listed, not just the first
                problems.append(f"{query.id}: {promql!r} failed: {exc}")
                continue
            checked += 1
            if not result:
                problems.append(f"{query.id}: {promql!r} returned no data")
    assert checked >= 40, f"only {checked} panel queries ran"
    assert not problems, "\n".join(problems)


def test_every_metric_a_panel_or_rule_selects_is_exposed(stack: Stack) -> None:
    text = httpx.get(f"{stack.monitor_url}/metrics", timeout=10).text
    exposed = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    assert "ai_usage_cost_total" in exposed and "gen_ai_client_token_usage_bucket" in exposed
    recorded = recorded_names()
    from_prometheus = {"up"}
    missing = []
    for path in DASHBOARD_FILES:
        values = variable_values(load_dashboard(path))
        for query in panel_queries(path):
            unknown = metric_names(substitute(query.expr, values)) - exposed - recorded - from_prometheus
            missing += [f"{query.id}: {name}" for name in sorted(unknown)]
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                unknown = metric_names(rule["expr"]) - exposed - recorded - from_prometheus
                missing += [f"{path.name}/{name}: {metric}" for metric in sorted(unknown)]
    assert not missing, "selected but not exposed by /metrics:\n" + "\n".join(missing)


def test_recording_rules_agree_with_the_records(stack: Stack) -> None:
    cost_today = stack.prometheus.query_value("ai_usage:cost_today")
    assert cost_today == pytest.approx(stack.total_cost)
    ratio = stack.prometheus.query_value('ai_usage:budget_ratio{budget="daily-total"}')
    assert ratio == pytest.approx(stack.total_cost / BUDGETS[0]["limit"])
    assert ratio >= 1, "the test records must pass the daily budget"


def test_budget_alert_reaches_the_monitor_through_alertmanager(stack: Stack) -> None:
    deadline = time.monotonic() + 45
    received: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answer = httpx.get(f"{stack.monitor_url}/api/ai_usage/alerts", params={"status": "firing"}, timeout=5)
        assert answer.status_code == 200, answer.text
        received = [a for a in answer.json()["alerts"] if a["alertname"] == "AIUsageBudgetOverLimit"]
        if received:
            break
        time.sleep(0.5)
    firing_in_prometheus = [
        a["labels"]["alertname"] for a in stack.prometheus.alerts() if a["state"] == "firing"
    ]
    assert received, (
        f"no AIUsageBudgetOverLimit at the webhook; Prometheus firing: {firing_in_prometheus}; "
        f"Alertmanager holds: {[a['labels'] for a in stack.alertmanager.alerts()]}\n"
        f"{stack.alertmanager.log_tail()}"
    )
    alert = received[0]
    assert alert["labels"]["budget"] == "daily-total"
    assert alert["labels"]["service"] == "ai-usage-monitor"
    assert alert["severity"] == "critical"
    # the value of the evaluation Prometheus last sent: before or after the second batch arrived
    shown = re.fullmatch(r"Budget daily-total is at ([0-9.]+)% of its limit", alert["summary"])
    assert shown, alert["summary"]
    shares = [100 * cost / BUDGETS[0]["limit"] for cost in (stack.first_batch_cost, stack.total_cost)]
    assert any(abs(float(shown.group(1)) - share) < 0.06 for share in shares), (alert["summary"], shares)
    assert alert["receiver"] == "ai-usage-monitor"
    assert "/graph?g0.expr=" in alert["generator_url"]
    assert "AIUsageBudgetOverLimit" in firing_in_prometheus
