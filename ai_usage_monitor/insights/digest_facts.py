"""The figures of a digest, asked of the store: spend and its change against the week before, the top
models, functions and anchors, the month-end forecast, budgets near their limit and the top advice."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ai_usage_monitor.budgets.current import ledger_counters
from ai_usage_monitor.insights.advice import advise_last_days
from ai_usage_monitor.insights.digest import (
    TOP_N,
    BudgetUse,
    DigestFacts,
    DigestKind,
    DigestPeriod,
    ForecastLine,
    Ranked,
    digest_period,
)
from ai_usage_monitor.insights.report import build_forecast
from ai_usage_monitor.store.periods import day_start, to_epoch
from ai_usage_monitor.store.queries import Dimension, TimeRange, ranking, summarize

if TYPE_CHECKING:
    from ai_usage_monitor.budgets.ledger import SpendStatus
    from ai_usage_monitor.config import Settings
    from ai_usage_monitor.pricing.pricer import Pricer
    from ai_usage_monitor.store.backend import Store
    from ai_usage_monitor.store.periods import Instant

__all__ = ["ADVICE_DAYS", "collect_digest", "near_limit"]

#: Calendar days (ending today) the advice learns from.
ADVICE_DAYS = 30


def _range(store: Store, first: date, last: date) -> TimeRange:
    return TimeRange(day_start(store.tz, first), day_start(store.tz, last + timedelta(days=1)))


def _spent(store: Store, first: date, last: date) -> tuple[float, int]:
    totals = summarize(store, _range(store, first, last), breakdowns=False)
    return totals.cost, totals.calls


def _top(store: Store, dimension: Dimension, period: DigestPeriod) -> tuple[Ranked, ...]:
    rows = ranking(store, dimension, _range(store, period.first, period.last), TOP_N)
    return tuple(Ranked(str(row[dimension]), row["cost"], row["calls"]) for row in rows if row["cost"] > 0)


def near_limit(settings: Settings, counters: list[SpendStatus], now: float) -> tuple[BudgetUse, ...]:
    """Counters of current periods spent to their budget's lowest threshold or past it, fullest first."""
    budgets = {budget.name: budget for budget in settings.budgets}
    uses = []
    for counter in counters:
        budget = budgets.get(counter.budget)
        if budget is None or counter.resets_at <= now or not budget.thresholds:
            continue
        use = BudgetUse(budget.name, counter.scope_value, counter.period, counter.spent, budget.limit)
        if use.ratio >= min(budget.thresholds) and counter.spent > 0:
            uses.append(use)
    return tuple(sorted(uses, key=lambda u: (-u.ratio, u.name, u.scope_value)))


def _forecast(store: Store, t: float) -> ForecastLine:
    data = build_forecast(store, "all", now=t)
    team = data["forecast"][0]
    return ForecastLine(
        data["month"], data["month_to_date"], team["expected"], team["low"], team["high"], team["method"]
    )


def collect_digest(
    store: Store, kind: DigestKind, *, now: Instant = None, pricer: Pricer | None = None
) -> DigestFacts:
    """The ``kind`` digest due on the local day of ``now`` (it covers yesterday, or the 7 days to it)."""
    settings = store.settings
    t = to_epoch(now)
    period = digest_period(kind, datetime.fromtimestamp(t, store.tz).date())
    earlier = period.earlier()
    spent, calls = _spent(store, period.first, period.last)
    if pricer is None:
        from ai_usage_monitor.pricing import get_pricer

        pricer = get_pricer(settings)
    return DigestFacts(
        period=period,
        currency=settings.currency,
        spent=spent,
        calls=calls,
        previous_spent=_spent(store, earlier.first, earlier.last)[0],
        month_to_date=_spent(store, period.last.replace(day=1), period.last)[0],
        top_models=_top(store, "model", period),
        top_functions=_top(store, "function", period),
        top_anchors=_top(store, "anchor_id", period),
        forecast=_forecast(store, t),
        budgets=near_limit(settings, ledger_counters(settings) if settings.budgets else [], t),
        advice=tuple(advise_last_days(store, pricer, ADVICE_DAYS, now=t)[:TOP_N]),
    )
