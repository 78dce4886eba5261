"""The forecast's figures against hand computations: the fallback rules exactly, the statsmodels path against
statsmodels called directly on the same series, and the run-out date of a budget."""

from __future__ import annotations

import calendar
import math
import statistics
import sys
from datetime import date, timedelta

import pytest

from ai_usage_monitor.insights.forecast import (
    forecast_month,
    runs_out_at,
    share_elapsed,
    statsmodels_available,
)

TODAY = date(2026, 3, 10)  # a Tuesday
#: Cost by weekday (Monday first): weekends busier.
PATTERN = (10.0, 10.0, 10.0, 10.0, 10.0, 20.0, 20.0)


def history_before(today: date, costs: list[float]) -> list[tuple[date, float]]:
    """``costs`` as the days ending yesterday, with their dates."""
    return [(today - timedelta(days=len(costs) - i), c) for i, c in enumerate(costs)]


def spent_this_month(today: date, days: list[tuple[date, float]]) -> float:
    return sum(c for d, c in days if d.month == today.month and d.year == today.year)


def rest_of_month(today: date) -> list[date]:
    last = calendar.monthrange(today.year, today.month)[1]
    return [today.replace(day=n) for n in range(today.day + 1, last + 1)]


def test_fallback_on_an_exact_weekly_pattern_continues_it_with_no_band() -> None:
    days = [(d, PATTERN[d.weekday()]) for d, _ in history_before(TODAY, [0.0] * 14)]
    so_far, share = 4.0, 0.25
    result = forecast_month(
        [c for _, c in days], today=TODAY, today_so_far=so_far, share=share, engine="fallback"
    )
    # today: its pace is 4 + 0.75 × 10 = 11.5, of which 0.75 is still to come
    today_total = so_far + 0.75 * (so_far + 0.75 * PATTERN[TODAY.weekday()])
    assert result.today.expected == pytest.approx(12.625) == pytest.approx(today_total)
    expected = (
        spent_this_month(TODAY, days) + today_total + sum(PATTERN[d.weekday()] for d in rest_of_month(TODAY))
    )
    assert result.method == "recent_mean"
    assert result.month_to_date == pytest.approx(spent_this_month(TODAY, days) + so_far)
    assert result.month.expected == pytest.approx(expected)
    assert result.month.low == pytest.approx(expected) and result.month.high == pytest.approx(expected)
    assert [round(d.expected, 9) for d in result.daily[1:]] == [
        PATTERN[d.weekday()] for d in rest_of_month(TODAY)
    ]


def test_fallback_band_from_its_own_past_errors() -> None:
    costs = [PATTERN[d.weekday()] for d, _ in history_before(TODAY, [0.0] * 21)]
    costs[-3] += 7.0  # one busy day, three days ago
    costs[-10] -= 4.0
    days = history_before(TODAY, costs)
    result = forecast_month(costs, today=TODAY, today_so_far=0.0, share=0.0, engine="fallback")
    # by hand: weekday factors over the last 3 whole weeks, level = the last 7 days' mean
    weekday_mean = {w: statistics.fmean(c for d, c in days if d.weekday() == w) for w in range(7)}
    overall = statistics.fmean(costs)
    factor = {w: weekday_mean[w] / overall for w in range(7)}
    level = statistics.fmean(costs[-7:])
    errors = []
    for t in range(7, 21):
        errors.append(costs[t] - statistics.fmean(costs[t - 7 : t]) * factor[days[t][0].weekday()])
    ordered = sorted(errors)

    # the 10th and 90th percentiles, interpolated between order statistics ("inclusive")
    def decile(q: float) -> float:
        position = q * (len(ordered) - 1)
        lo = int(position)
        return ordered[lo] + (ordered[lo + 1] - ordered[lo]) * (position - lo)

    remaining = [TODAY, *rest_of_month(TODAY)]
    path = [level * factor[d.weekday()] for d in remaining]
    expected = spent_this_month(TODAY, days) + sum(path)
    h = len(remaining)
    scale = math.sqrt((h + h * h / 7) / (1 + 1 / 7))
    assert result.month.expected == pytest.approx(expected)
    assert result.month.low == pytest.approx(expected + decile(0.1) * scale)
    assert result.month.high == pytest.approx(expected + decile(0.9) * scale)
    assert result.today.low == pytest.approx(path[0] + decile(0.1))
    assert result.today.high == pytest.approx(path[0] + decile(0.9))
    assert result.month.low < result.month.expected < result.month.high


def test_short_history_answers_with_the_month_to_date_pace() -> None:
    # a model that appeared two days ago: the zeros before it are not its history
    costs = [0.0] * 30 + [6.0, 3.0]
    so_far, share = 1.5, 0.5
    result = forecast_month(costs, today=TODAY, today_so_far=so_far, share=share)
    rate = (6.0 + 3.0 + 1.5) / (2 + 0.5)
    today_total = so_far + 0.5 * (so_far + 0.5 * rate)
    before = 9.0  # both days are in March
    expected = before + today_total + rate * len(rest_of_month(TODAY))
    assert result.method == "month_to_date_only"
    assert result.month.expected == pytest.approx(expected)
    assert result.month.low == pytest.approx(before + so_far)
    assert result.month.high == pytest.approx(2 * expected - (before + so_far))
    assert result.today.expected == pytest.approx(today_total)


def test_no_history_and_nothing_spent_forecasts_nothing() -> None:
    result = forecast_month([], today=TODAY, today_so_far=0.0, share=0.3)
    assert (result.month.expected, result.month.low, result.month.high) == (0.0, 0.0, 0.0)
    assert result.method == "month_to_date_only"


def seasonal_series(n: int) -> list[float]:
    """A weekly pattern with a gentle trend and fixed wiggles (no randomness)."""
    start = TODAY - timedelta(days=n)
    return [
        PATTERN[(start + timedelta(days=i)).weekday()] * (1 + 0.01 * i) + math.sin(i * 1.7) for i in range(n)
    ]


@pytest.mark.parametrize(("n", "method", "seasonal"), [(35, "holt_winters", True), (15, "trend", False)])
def test_statsmodels_path_equals_statsmodels_called_directly(n: int, method: str, seasonal: bool) -> None:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    costs = seasonal_series(n)
    so_far, share = 2.0, 0.4
    result = forecast_month(costs, today=TODAY, today_so_far=so_far, share=share)
    fit = ETSModel(
        pd.Series(costs),
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=7 if seasonal else None,
        initialization_method="heuristic",
    ).fit(disp=False)
    horizon = 1 + len(rest_of_month(TODAY))
    mean = [max(float(v), 0.0) for v in fit.forecast(horizon)]
    today_total = so_far + 0.6 * (so_far + 0.6 * mean[0])
    expected = spent_this_month(TODAY, history_before(TODAY, costs)) + today_total + sum(mean[1:])
    assert result.method == method
    assert result.month.expected == pytest.approx(expected, rel=1e-9)
    assert result.today.expected == pytest.approx(today_total, rel=1e-9)
    assert result.month.low < result.month.expected < result.month.high
    assert result.today.low <= result.today.expected <= result.today.high
    frame = fit.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=0.2)
    assert result.daily[1].low == pytest.approx(max(float(frame["pi_lower"].iloc[1]), 0.0), rel=1e-9)
    assert result.daily[1].high == pytest.approx(float(frame["pi_upper"].iloc[1]), rel=1e-9)


def test_without_statsmodels_the_fallback_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert statsmodels_available()
    monkeypatch.setitem(sys.modules, "statsmodels.tsa.exponential_smoothing.ets", None)
    assert not statsmodels_available()
    costs = seasonal_series(35)
    result = forecast_month(costs, today=TODAY, today_so_far=0.0, share=0.0)
    fallback = forecast_month(costs, today=TODAY, today_so_far=0.0, share=0.0, engine="fallback")
    assert result.method == "recent_mean"
    assert result == fallback


def test_share_elapsed_follows_the_hourly_profile() -> None:
    profile = [0.0] * 24
    profile[9], profile[20], profile[21] = 1.0, 2.0, 1.0
    assert share_elapsed(profile, 20, 0.5) == pytest.approx((1.0 + 0.5 * 2.0) / 4.0)
    assert share_elapsed(profile, 8, 0.9) == 0.0
    assert share_elapsed([0.0] * 24, 6, 0.0) == pytest.approx(0.25)


def test_runs_out_at_the_first_day_the_pace_reaches_the_limit() -> None:
    path = [(TODAY + timedelta(days=i), 20.0) for i in range(5)]
    assert runs_out_at(50.0, 100.0, path) == TODAY + timedelta(days=2)  # 70, 90, 110
    assert runs_out_at(50.0, 1000.0, path) is None
    assert runs_out_at(120.0, 100.0, path) == TODAY
