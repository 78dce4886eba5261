"""Month-end and end-of-day spend forecasts with an 80% band, as pure functions over daily cost series.

How a forecast is made (``docs/forecast.md`` tells the same for users), by how much history a series has
(complete days since its first cost, ending yesterday) and whether the optional ``statsmodels`` is there:

- ``holt_winters`` (≥ 21 days): statsmodels' ``ETSModel`` — additive error, damped additive trend, additive
  weekly season (period 7); the daily band is its 80% prediction interval, the month's band the 10th–90th
  percentiles of the month totals of simulated paths.
- ``trend`` (10–20 days): the same without the season (damped Holt).
- ``recent_mean`` (3 days or more, and the fallback when statsmodels is missing or a fit fails): the mean of
  the last 7 days times a day-of-week factor (from the last 2–4 whole weeks); the band adds the 10th and
  90th percentiles of that rule's past one-day errors, scaled for the month by how day errors and the
  shared error of the 7-day mean add up.
- ``month_to_date_only`` (under 3 days): the pace so far, ``cost ÷ days observed``; the band runs from what
  is already spent to twice the expected remainder.

Today is forecast month-to-date style: ``share`` is the part of a day's cost that has usually been spent by
this time of day (the hourly profile), the day's total is estimated as ``so_far + (1 − share) × f`` (today's
own pace weighted by ``share``, the model's day ``f`` by the rest), and the remaining ``1 − share`` of that
estimate is added to what today has already cost.
"""

from __future__ import annotations

import calendar
import functools
import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

__all__ = [
    "MIN_HISTORY_DAYS",
    "SEASONAL_HISTORY_DAYS",
    "TREND_HISTORY_DAYS",
    "Band",
    "DayBand",
    "Engine",
    "Method",
    "PeriodForecast",
    "forecast_month",
    "runs_out_at",
    "share_elapsed",
    "statsmodels_available",
]

Method = Literal["holt_winters", "trend", "recent_mean", "month_to_date_only"]
#: ``auto``: statsmodels when it is installed; ``fallback``: always the simple rules.
Engine = Literal["auto", "fallback"]

#: Fewer complete days than this: ``month_to_date_only``.
MIN_HISTORY_DAYS = 3
#: From this many days: damped Holt (``trend``); from ``SEASONAL_HISTORY_DAYS``: with the weekly season.
TREND_HISTORY_DAYS = 10
SEASONAL_HISTORY_DAYS = 21
_WEEK = 7
_FACTOR_WEEKS = 4
_BAND = (0.1, 0.9)
_SIMULATIONS = 1000
_SEED = 20260101


@dataclass(frozen=True, slots=True)
class Band:
    """An expected figure with its 80% band."""

    expected: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class DayBand:
    """Expected spend of one calendar day with its 80% band."""

    day: date
    expected: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class PeriodForecast:
    """The month's total (spent + expected), today's total, and the daily path from today to month end."""

    month_to_date: float
    #: what today has cost so far (part of ``month_to_date``)
    today_spent: float
    month: Band
    today: Band
    daily: tuple[DayBand, ...]
    method: Method


def statsmodels_available() -> bool:
    """Whether the optional ``forecast`` extra (statsmodels) can be imported."""
    try:
        import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401
    except ImportError:
        return False
    return True


def share_elapsed(hourly_profile: Sequence[float], hour: int, minute_fraction: float) -> float:
    """Part of a day's cost usually spent by ``hour`` + ``minute_fraction`` (local), from the cost per
    local hour of past days; the clock's share of the day when the profile is empty."""
    total = sum(hourly_profile)
    if total <= 0:
        return (hour + minute_fraction) / 24
    return (sum(hourly_profile[:hour]) + minute_fraction * hourly_profile[hour]) / total


def runs_out_at(spent: float, limit: float, path: Sequence[tuple[date, float]]) -> date | None:
    """The first day of ``path`` (expected spend per day, from today on) by whose end ``spent`` plus the
    path reaches ``limit``; ``None`` when it does not within the path ("not this period"). A budget already
    spent runs out on the path's first day."""
    total = spent
    for day, cost in path:
        total += cost
        if total >= limit:
            return day
    return None


def _today_total(so_far: float, share: float, day_forecast: float) -> float:
    """Today's total: the day's pace blends today's own (weight ``share``) with the model's day."""
    pace = so_far + (1 - share) * max(day_forecast, 0.0)
    return so_far + (1 - share) * pace


def forecast_month(
    history: Sequence[float],
    *,
    today: date,
    today_so_far: float,
    share: float,
    engine: Engine = "auto",
) -> PeriodForecast:
    """Forecast the month holding ``today`` from ``history`` (cost per complete day, oldest first, ending
    yesterday; days before the first cost are ignored) and what today has cost so far (``share``: see
    ``share_elapsed``)."""
    share = min(max(share, 0.0), 1.0)
    last = date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])
    days = [today + timedelta(days=i) for i in range((last - today).days + 1)]
    before = sum(history[len(history) - (today.day - 1) :]) if today.day > 1 else 0.0
    start = next((i for i, cost in enumerate(history) if cost > 0), len(history))
    series = [float(cost) for cost in history[start:]]
    if len(series) < MIN_HISTORY_DAYS:
        return _month_to_date_only(series, days, before, today_so_far, share)
    if engine == "auto" and len(series) >= TREND_HISTORY_DAYS and statsmodels_available():
        fitted = _exponential_smoothing(tuple(series), len(days))
        if fitted is not None:
            return _from_paths(fitted, days, before, today_so_far, share)
    return _recent_mean(series, days, before, today_so_far, share)


def _weekday_factors(series: Sequence[float], first_weekday: int) -> list[float]:
    """Mean cost per weekday over the last 2–4 whole weeks ÷ their mean; all 1 with under 2 weeks."""
    weeks = min(len(series) // _WEEK, _FACTOR_WEEKS)
    if weeks < 2:
        return [1.0] * _WEEK
    window = series[len(series) - weeks * _WEEK :]
    mean = statistics.fmean(window)
    if mean <= 0:
        return [1.0] * _WEEK
    offset = len(series) - len(window)
    factors = [0.0] * _WEEK
    for i, cost in enumerate(window):
        factors[(first_weekday + offset + i) % _WEEK] += cost / weeks
    return [f / mean for f in factors]


def _recent_mean(
    series: Sequence[float], days: Sequence[date], before: float, so_far: float, share: float
) -> PeriodForecast:
    """Last 7 days' mean × day-of-week factor; band from the rule's own past one-day errors."""
    n = len(series)
    first_weekday = (days[0] - timedelta(days=n)).weekday()
    factors = _weekday_factors(series, first_weekday)

    def predict(t: int) -> float:  # cost of day t (index into series, may be past its end)
        recent = series[max(0, min(t, n) - _WEEK) : min(t, n)]
        return statistics.fmean(recent) * factors[(first_weekday + t) % _WEEK]

    errors = [series[t] - predict(t) for t in range(max(_WEEK, n - _FACTOR_WEEKS * _WEEK), n)]
    if len(errors) < MIN_HISTORY_DAYS:
        window = series[-_WEEK:]
        errors = [cost - statistics.fmean(window) for cost in window]
    deciles = statistics.quantiles(errors, n=10, method="inclusive")
    below, above = deciles[0], deciles[-1]
    level = statistics.fmean(series[-_WEEK:])
    path = [level * factors[d.weekday()] for d in days]
    daily = tuple(
        DayBand(d, f, max(f + below, 0.0), max(f + above, 0.0)) for d, f in zip(days, path, strict=True)
    )
    today = Band(
        _today_total(so_far, share, path[0]),
        _today_total(so_far, share, path[0] + below),
        _today_total(so_far, share, path[0] + above),
    )
    expected = before + today.expected + sum(path[1:])
    # Errors of the days add up with the one error of the 7-day mean they all share (iid noise σ):
    # Var(Σ w·e) = σ²·(Σw² + (Σw)²/7), against σ²·(1 + 1/7) for the one-day errors the deciles come from.
    weights = [(1 - share) ** 2] + [1.0] * (len(days) - 1)
    spread = sum(w * w for w in weights) + sum(weights) ** 2 / _WEEK
    scale = math.sqrt(spread / (1 + 1 / _WEEK))
    month = Band(expected, max(expected + below * scale, before + so_far), expected + above * scale)
    return PeriodForecast(before + so_far, so_far, month, today, _with_today(daily, today), "recent_mean")


def _month_to_date_only(
    series: Sequence[float], days: Sequence[date], before: float, so_far: float, share: float
) -> PeriodForecast:
    """Too little history for a model: the pace so far, with a band from nothing more to twice as much."""
    rate = (sum(series) + so_far) / max(len(series) + share, 1.0)
    spent = before + so_far
    today_expected = _today_total(so_far, share, rate)
    today = Band(today_expected, so_far, 2 * today_expected - so_far)
    expected = before + today_expected + rate * (len(days) - 1)
    month = Band(expected, spent, 2 * expected - spent)
    daily = tuple(DayBand(d, rate, 0.0, 2 * rate) for d in days)
    return PeriodForecast(spent, so_far, month, today, _with_today(daily, today), "month_to_date_only")


def _with_today(daily: tuple[DayBand, ...], today: Band) -> tuple[DayBand, ...]:
    """The path with its first day replaced by today's total (what is spent plus the rest of the day)."""
    return (DayBand(daily[0].day, today.expected, today.low, today.high), *daily[1:])


@dataclass(frozen=True, slots=True)
class _Fitted:
    """What a statsmodels fit gives the forecast: the daily mean, its 80% interval, simulated paths."""

    method: Method
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    paths: tuple[tuple[float, ...], ...]  # one per simulation, ``horizon`` days each


def ets_model(series: Sequence[float]) -> Any:
    """The statsmodels ``ETSModel`` this module fits to ``series`` (weekly season from 21 days)."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = len(series) >= SEASONAL_HISTORY_DAYS
    return ETSModel(
        pd.Series(list(series), dtype=float),
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=_WEEK if seasonal else None,
        initialization_method="heuristic",
    )


@functools.lru_cache(maxsize=256)  # the same series is asked again until a day passes or a cost arrives
def _exponential_smoothing(series: tuple[float, ...], horizon: int) -> _Fitted | None:
    """Fit ``ets_model`` and forecast ``horizon`` days; ``None`` when the fit fails or is not finite."""
    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = ets_model(series).fit(disp=False)
            n = len(series)
            frame = result.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=0.2)
            sims = result.simulate(
                horizon, anchor="end", repetitions=_SIMULATIONS, rng=np.random.default_rng(_SEED)
            )
    except Exception:  # odd data (constant, tiny, huge) can fail a fit anywhere: recent_mean answers instead
        return None
    columns = [np.asarray(frame[c], dtype=float) for c in ("mean", "pi_lower", "pi_upper")]
    paths = np.asarray(sims, dtype=float).reshape(horizon, -1).T
    if not all(np.isfinite(c).all() for c in columns) or not np.isfinite(paths).all():
        return None
    mean, lower, upper = (tuple(float(v) for v in np.maximum(c, 0.0)) for c in columns)
    method: Method = "holt_winters" if n >= SEASONAL_HISTORY_DAYS else "trend"
    clipped = np.maximum(paths, 0.0)
    return _Fitted(method, mean, lower, upper, tuple(tuple(float(v) for v in p) for p in clipped))


def _from_paths(
    fitted: _Fitted, days: Sequence[date], before: float, so_far: float, share: float
) -> PeriodForecast:
    """The forecast from a fit: point path from its mean, the month's band from its simulated paths."""
    today = Band(
        _today_total(so_far, share, fitted.mean[0]),
        _today_total(so_far, share, fitted.lower[0]),
        _today_total(so_far, share, fitted.upper[0]),
    )
    expected = before + today.expected + sum(fitted.mean[1:])
    totals = sorted(before + _today_total(so_far, share, p[0]) + sum(p[1:]) for p in fitted.paths)
    low, high = (_percentile(totals, q) for q in _BAND)
    month = Band(expected, min(low, expected), max(high, expected))
    daily = tuple(
        DayBand(d, m, lo, hi)
        for d, m, lo, hi in zip(days, fitted.mean, fitted.lower, fitted.upper, strict=True)
    )
    return PeriodForecast(before + so_far, so_far, month, today, _with_today(daily, today), fitted.method)


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated ``q`` quantile of ascending ``ordered`` (numpy's default method)."""
    position = q * (len(ordered) - 1)
    lo = math.floor(position)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo)
