"""The forecast answer of the REST route, the CLI and ``monitor.get_forecast()``: the store's daily series
per scope run through ``insights.forecast``, plus each budget's run-out date."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from ai_usage_monitor.bounds import OTHER
from ai_usage_monitor.budgets.config import ALL_VALUES
from ai_usage_monitor.insights.forecast import (
    Band,
    Engine,
    PeriodForecast,
    forecast_month,
    runs_out_at,
    share_elapsed,
)
from ai_usage_monitor.store.periods import day_start, to_epoch
from ai_usage_monitor.store.queries import Dimension, TimeRange, daily_costs, hourly_costs

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store
    from ai_usage_monitor.store.periods import Instant

__all__ = ["HISTORY_DAYS", "MAX_KEYS", "PROFILE_DAYS", "SCOPES", "Scope", "build_forecast"]

Scope = Literal["all", "model", "function", "anchor"]
SCOPES: tuple[str, ...] = get_args(Scope)
_DIMENSION: dict[str, Dimension | None] = {
    "all": None,
    "model": "model",
    "function": "function",
    "anchor": "anchor_id",
}
#: Complete days of history the models see (12 whole weeks).
HISTORY_DAYS = 84
#: Days whose cost per hour of day make today's profile.
PROFILE_DAYS = 28
#: Keys forecast one by one (top by month-to-date cost); the rest are folded into ``"other"``.
MAX_KEYS = 20
ALL = "all"
#: budget scope keys whose single value has a forecast of its own
_BUDGET_SCOPES: dict[str, Dimension] = {"model": "model", "function": "function", "anchor_id": "anchor_id"}
#: The forecast of one value of a dimension (``None`` when it has no cost in the history).
_Keyed = Callable[[Dimension, str], PeriodForecast | None]


def _band(band: Band) -> dict[str, float]:
    return {"expected": band.expected, "low": band.low, "high": band.high}


def _entry(key: str, result: PeriodForecast) -> dict[str, Any]:
    return {
        "key": key,
        "month_to_date": result.month_to_date,
        **_band(result.month),
        "method": result.method,
        "today": _band(result.today),
    }


def _top_keys(series: Mapping[str, list[float]], month_days: int) -> dict[str, list[float]]:
    """The ``MAX_KEYS`` keys costing most this month (then over the history), the rest summed as "other"."""

    def rank(item: tuple[str, list[float]]) -> tuple[float, float, str]:
        name, costs = item
        return (-sum(costs[len(costs) - month_days :]), -sum(costs), name)

    ordered = sorted(series.items(), key=rank)
    kept = dict(ordered[:MAX_KEYS])
    rest = [costs for _, costs in ordered[MAX_KEYS:]]
    if rest:
        kept[OTHER] = [sum(day) for day in zip(*rest, strict=True)]
    return kept


def _hour_profile(store: Store, today: date) -> list[float]:
    """Cost per local hour of day over the ``PROFILE_DAYS`` days before today."""
    rng = TimeRange(day_start(store.tz, today - timedelta(days=PROFILE_DAYS)), day_start(store.tz, today))
    profile = [0.0] * 24
    for start, cost in hourly_costs(store, rng):
        profile[datetime.fromtimestamp(start, store.tz).hour] += cost
    return profile


def _budgets(store: Store, team: PeriodForecast, keyed: _Keyed) -> list[dict[str, Any]]:
    """``{"name", "runs_out_at"}`` per configured budget, at the pace of the one model / function / anchor
    its scope names, else of the whole team; ``hour`` and ``day`` budgets against today's expected total,
    ``week`` ones to the end of the week, ``month`` ones to the end of the month. Per-value quotas (a
    ``"*"`` scope) and scopes on other fields are left out: the team's pace would misstate them."""
    out = []
    for budget in store.settings.budgets:
        scope = dict(budget.scope)
        if ALL_VALUES in scope.values() or len(scope) > 1:
            continue
        result = team
        dimension: Dimension | None = None
        value = "all"
        if scope:
            ((field, value),) = scope.items()
            dimension = _BUDGET_SCOPES.get(field)
            if dimension is None:
                continue
            scoped = keyed(dimension, value)
            if scoped is None:  # no cost in the window yet
                out.append({"name": budget.name, "runs_out_at": None})
                continue
            result = scoped
        today = result.daily[0].day
        rest_of_today = (today, result.today.expected - result.today_spent)
        if budget.period in ("hour", "day"):
            day = runs_out_at(result.today_spent, budget.limit, [rest_of_today])
        else:
            last = today + timedelta(days=6 - today.weekday()) if budget.period == "week" else None
            ahead = [(d.day, d.expected) for d in result.daily[1:] if last is None or d.day <= last]
            spent = result.month_to_date
            if budget.period == "week":
                before = [today - timedelta(days=n) for n in range(today.weekday(), 0, -1)]
                past = daily_costs(store, before, dimension).get(value, []) if before else []
                spent = sum(past) + result.today_spent
            day = runs_out_at(spent, budget.limit, [rest_of_today, *ahead])
        out.append({"name": budget.name, "runs_out_at": _iso(day)})
    return out


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def build_forecast(
    store: Store, scope: str = "all", *, now: Instant = None, engine: Engine = "auto"
) -> dict[str, Any]:
    """``{"period": "month", "currency", "month_to_date", "today", "forecast": [...], "daily": [...],
    "budgets": [...]}`` for ``scope`` (``all``, ``model``, ``function`` or ``anchor``) at ``now``."""
    if scope not in _DIMENSION:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    t = to_epoch(now)
    local = datetime.fromtimestamp(t, store.tz)
    today = local.date()
    days = [today - timedelta(days=n) for n in range(HISTORY_DAYS, -1, -1)]
    share = share_elapsed(_hour_profile(store, today), local.hour, (local.minute * 60 + local.second) / 3600)

    def run(costs: Sequence[float]) -> PeriodForecast:
        return forecast_month(costs[:-1], today=today, today_so_far=costs[-1], share=share, engine=engine)

    team_costs = daily_costs(store, days).get(ALL, [0.0] * len(days))
    team = run(team_costs)
    entries = [_entry(ALL, team)]
    dimension = _DIMENSION[scope]
    if dimension is not None:
        for key, costs in _top_keys(daily_costs(store, days, dimension), today.day).items():
            entries.append(_entry(key, run(costs)))

    def keyed(dim: Dimension, key: str) -> PeriodForecast | None:
        costs = daily_costs(store, days, dim).get(key)
        return None if costs is None else run(costs)

    return {
        "period": "month",
        "month": f"{today:%Y-%m}",
        "scope": scope,
        "currency": store.settings.currency,
        "month_to_date": team.month_to_date,
        "today": {"date": today.isoformat(), "spent": team_costs[-1], **_band(team.today)},
        "forecast": entries,
        "daily": [
            {"date": d.day.isoformat(), "expected": d.expected, "low": d.low, "high": d.high}
            for d in team.daily
        ],
        "budgets": _budgets(store, team, keyed),
    }
