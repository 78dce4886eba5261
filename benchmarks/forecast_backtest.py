"""Backtest of the month-end forecast against the original doc's "last 7 days' average × 30".

For each history, the month-end total is forecast from the start of every day of its last month (what that
day knows: the complete days before it), and compared with the month's real total: MAPE over those days,
and the share of days whose 80% band held the real total. Histories: synthetic ones with a known weekly
pattern, trend and noise, and the demo's 90-day backfill. Run: ``python benchmarks/forecast_backtest.py``.
"""

from __future__ import annotations

import argparse
import calendar
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ai_usage_monitor.insights.forecast import Engine, forecast_month, statsmodels_available

#: The month forecast in every synthetic history, after 12 weeks of history.
MONTH = date(2026, 3, 1)
HISTORY_DAYS = 84
WEEKLY = (0.85, 0.85, 0.9, 0.95, 1.15, 1.7, 1.6)  # Monday … Sunday: busier evenings at the weekend
TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Score:
    mape: float
    coverage: float | None  # None: the method has no band


def synthetic(kind: str, seed: int) -> tuple[list[float], date]:
    """Daily costs from ``HISTORY_DAYS`` days before ``MONTH`` to its last day, and the first day."""
    rng = random.Random(f"{kind}-{seed}")
    first = MONTH - timedelta(days=HISTORY_DAYS)
    last = MONTH.replace(day=calendar.monthrange(MONTH.year, MONTH.month)[1])
    out = []
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        level = 100.0 + (0.8 * i if "trend" in kind else 0.0)
        season = WEEKLY[day.weekday()] if kind in ("seasonal", "seasonal+trend", "sparse", "new model") else 1
        cost = max(level * season * rng.gauss(1.0, 0.08), 0.0)
        if kind == "sparse" and rng.random() < 0.25:
            cost = 0.0  # a day without traffic
        if kind == "new model" and day < MONTH + timedelta(days=14):
            cost = 0.0  # the model appears in the middle of the month
        out.append(cost)
    return out, first


def demo_history(days: int) -> tuple[list[float], date]:
    """The demo's backfill of ``days`` days before 1 April 2026 (written to a temporary folder), per day."""
    from ai_usage_monitor.config import Settings
    from ai_usage_monitor.demo import _instrumented, backfill
    from ai_usage_monitor.store.index import UsageStore
    from ai_usage_monitor.store.queries import daily_costs

    tz = ZoneInfo(TIMEZONE)
    now = datetime(2026, 4, 1, 0, 0, 30, tzinfo=tz)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(
            records_dir=folder / "records", index_dir=folder / "index", timezone=TIMEZONE, api_token=None
        )
        with _instrumented(settings, settings.records_dir):
            backfill(days, tz, settings.records_dir, now=now.timestamp())
        store = UsageStore(settings)
        try:
            store.refresh()
            dates = [now.date() - timedelta(days=n) for n in range(days, 0, -1)]
            costs = daily_costs(store, dates).get("all", [0.0] * len(dates))
        finally:
            store.close()
    return costs, dates[0]


Forecaster = Callable[[Sequence[float], date], tuple[float, float | None, float | None]]


def model(engine: Engine) -> Forecaster:
    def run(history: Sequence[float], today: date) -> tuple[float, float | None, float | None]:
        result = forecast_month(history, today=today, today_so_far=0.0, share=0.0, engine=engine)
        return result.month.expected, result.month.low, result.month.high

    return run


def average_times(days: int | None) -> Forecaster:
    """The original doc: the last 7 days' mean × 30 (``None``: × the days of the month)."""

    def run(history: Sequence[float], today: date) -> tuple[float, float | None, float | None]:
        width = days or calendar.monthrange(today.year, today.month)[1]
        return statistics.fmean(history[-7:]) * width, None, None

    return run


def backtest(costs: Sequence[float], first: date, forecaster: Forecaster) -> Score:
    """Forecast the last month of ``costs`` (daily, from ``first``) from each of its days."""
    last = first + timedelta(days=len(costs) - 1)
    start = (last.replace(day=1) - first).days
    actual = sum(costs[start:])
    errors, inside = [], []
    for i in range(start, len(costs)):
        expected, low, high = forecaster(costs[:i], first + timedelta(days=i))
        errors.append(abs(expected - actual) / actual * 100)
        if low is not None and high is not None:
            inside.append(low <= actual <= high)
    return Score(statistics.fmean(errors), statistics.fmean(inside) * 100 if inside else None)


def _cell(score: Score) -> str:
    band = "" if score.coverage is None else f" / {score.coverage:5.1f}%"
    return f"{score.mape:6.2f}%{band}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="synthetic histories per kind")
    parser.add_argument("--demo-days", type=int, default=90, help="days of demo backfill (0: skip)")
    args = parser.parse_args()
    methods: dict[str, Forecaster] = {}
    if statsmodels_available():
        methods["forecast (statsmodels)"] = model("auto")
    methods["forecast (fallback)"] = model("fallback")
    methods["avg7 × 30"] = average_times(30)
    methods["avg7 × days in month"] = average_times(None)
    histories: list[tuple[str, list[tuple[list[float], date]]]] = [
        (kind, [synthetic(kind, seed) for seed in range(args.seeds)])
        for kind in ("flat", "seasonal", "trending", "seasonal+trend", "sparse", "new model")
    ]
    if args.demo_days:
        began = time.perf_counter()
        histories.append((f"demo backfill ({args.demo_days} d)", [demo_history(args.demo_days)]))
        print(f"demo backfill generated in {time.perf_counter() - began:.0f} s")
    began = time.perf_counter()
    print("MAPE of the month-end total forecast from each day of the month / 80% band coverage")
    print(f"| history | {' | '.join(methods)} |")
    print(f"|---|{'---|' * len(methods)}")
    for kind, series in histories:
        cells = []
        for forecaster in methods.values():
            scores = [backtest(costs, first, forecaster) for costs, first in series]
            mape = statistics.fmean(s.mape for s in scores)
            coverages = [s.coverage for s in scores if s.coverage is not None]
            cells.append(_cell(Score(mape, statistics.fmean(coverages) if coverages else None)))
        print(f"| {kind} | {' | '.join(cells)} |")
    print(f"\n(seeds per synthetic kind: {args.seeds}; backtest took {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
