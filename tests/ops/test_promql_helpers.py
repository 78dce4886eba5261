"""The helpers the ops tests rely on: metric names out of PromQL, Grafana variables substituted."""

from __future__ import annotations

import pytest

from tests.ops._support import metric_names, substitute


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum(ai_usage_cost_today)", {"ai_usage_cost_today"}),
        (
            'sum by (model) (rate(ai_usage_cost_total{provider=~"$provider", function="实时分析"}[5m]))',
            {"ai_usage_cost_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, gen_ai_request_model) "
            "(rate(gen_ai_client_operation_duration_seconds_bucket[1m])))",
            {"gen_ai_client_operation_duration_seconds_bucket"},
        ),
        (
            "ai_usage:cost:rate1h > on(currency) sum by (currency) (rate(ai_usage_cost_total[1h] offset 1d))"
            " * on() group_left() ai_usage:cost_spike_ratio_limit and on(currency) ai_usage:cost:rate1h"
            " * 3600 > bool 1e3",
            {"ai_usage:cost:rate1h", "ai_usage_cost_total", "ai_usage:cost_spike_ratio_limit"},
        ),
        (
            "time() - max by (instance, job) (ai_usage_last_record_timestamp_seconds)",
            {"ai_usage_last_record_timestamp_seconds"},
        ),
        ('up{job="ai-usage-monitor"} == 0 unless ignoring(job) vector(1)', {"up"}),
        ("sum(ai_usage_cost_month) / day_of_month() * days_in_month()", {"ai_usage_cost_month"}),
        ("vector(200 / 24)", set()),
        ("sum(ai_usage_cost_today) / $daily_budget", {"ai_usage_cost_today"}),
        ("(x_total or y_total * 0) / z_total", {"x_total", "y_total", "z_total"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_substitute_grafana_variables() -> None:
    values = {"provider": ".*", "daily_budget": "200"}
    expr = 'rate(x{provider=~"$provider"}[$__rate_interval]) / ${daily_budget} + [[daily_budget]] + $__range'
    assert substitute(expr, values) == 'rate(x{provider=~".*"}[1m]) / 200 + 200 + 1h'
    assert substitute("increase(x[$__range])", {}) == "increase(x[1h])"
    assert substitute("${provider:regex}", values) == ".*"


def test_substitute_refuses_unknown_variables() -> None:
    with pytest.raises(KeyError):
        substitute('x{model=~"$model"}', {"provider": ".*"})
