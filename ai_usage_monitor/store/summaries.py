"""The period summaries of the original usage doc (hour, day, month, session, current stats, top users,
cost trend) in the shapes of docs/architecture.md §5–6, shared by the Python API and the REST routes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ai_usage_monitor.store import periods, queries
from ai_usage_monitor.store.queries import Filters, Summary, TimeRange

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store

__all__ = [
    "UsageSummary",
    "cost_trend_days",
    "current_stats",
    "daily_summary",
    "hourly_summary",
    "monthly_summary",
    "session_stats",
    "session_summary",
    "top_users",
]


@dataclass(slots=True)
class UsageSummary:
    """Totals of one period. ``by_model[name]`` / ``by_function[name]`` hold at least ``calls``,
    ``total_tokens`` and ``cost``; ``label`` names the period (``{"date": …}``, ``{"hour": …}``, …)."""

    period: str
    start: datetime | None
    end: datetime | None
    summary: Summary
    label: dict[str, Any] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return self.summary.calls

    @property
    def total_tokens(self) -> int:
        return self.summary.total_tokens

    @property
    def total_cost(self) -> float:
        return self.summary.cost

    @property
    def success_rate(self) -> float:
        return self.summary.success_rate

    @property
    def by_model(self) -> dict[str, dict[str, Any]]:
        return self.summary.by_model

    @property
    def by_function(self) -> dict[str, dict[str, Any]]:
        return self.summary.by_function

    def to_dict(self) -> dict[str, Any]:
        """The REST summary shape (docs/architecture.md §6), with a few added keys."""
        s = self.summary
        return {
            "period": self.period,
            **self.label,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "total_calls": s.calls,
            "total_tokens": s.total_tokens,
            "total_cost": s.cost,
            "success_rate": s.success_rate,
            "successes": s.successes,
            "failures": s.failures,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cached_tokens": s.cached_tokens,
            "reasoning_tokens": s.reasoning_tokens,
            "avg_duration_ms": s.avg_duration_ms,
            "unpriced_calls": s.unpriced_calls,
            "by_model": s.by_model,
            "by_function": s.by_function,
        }


def _local(store: Store, t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, store.tz)


def _summary(
    store: Store, period: str, rng: TimeRange, label: dict[str, Any], filters: Filters | None
) -> UsageSummary:
    summary = queries.summarize(store, rng, filters)
    return UsageSummary(period, _local(store, rng.start), _local(store, rng.end), summary, label)


def hourly_summary(
    store: Store, hours_ago: int = 0, now: periods.Instant = None, filters: Filters | None = None
) -> UsageSummary:
    """The clock hour ``hours_ago`` hours back (0: the current one) in the configured time zone."""
    rng = periods.hour_range(store.tz, hours_ago, now)
    label = {"hour": datetime.fromtimestamp(rng.start, store.tz).isoformat()}
    return _summary(store, "hourly", rng, label, filters)


def daily_summary(
    store: Store, days_ago: int = 0, now: periods.Instant = None, filters: Filters | None = None
) -> UsageSummary:
    """The calendar day ``days_ago`` days back (0: today) in the configured time zone."""
    rng, day = periods.day_range(store.tz, days_ago, now)
    return _summary(store, "daily", rng, {"date": day.isoformat()}, filters)


def monthly_summary(
    store: Store,
    year: int | None = None,
    month: int | None = None,
    now: periods.Instant = None,
    filters: Filters | None = None,
) -> UsageSummary:
    """A calendar month (default: the current one) in the configured time zone."""
    today = datetime.fromtimestamp(periods.to_epoch(now), store.tz)
    year = today.year if year is None else year
    month = today.month if month is None else month
    rng = periods.month_range(store.tz, year, month)
    return _summary(store, "monthly", rng, {"year": year, "month": month}, filters)


def session_summary(store: Store, session_id: str, filters: Filters | None = None) -> UsageSummary:
    """Every call of one session, whenever it happened (and matching ``filters``)."""
    s = queries.summarize(store, None, replace(filters or Filters(), session_id=session_id))
    return UsageSummary(
        "session",
        _local(store, s.first_timestamp),
        _local(store, s.last_timestamp),
        s,
        {"session_id": session_id},
    )


def session_stats(store: Store, session_id: str, filters: Filters | None = None) -> dict[str, Any]:
    """The original doc's session dict: ``calls``, ``tokens``, ``cost`` and more."""
    u = session_summary(store, session_id, filters)
    s = u.summary
    return {
        "session_id": session_id,
        "calls": s.calls,
        "tokens": s.total_tokens,
        "cost": s.cost,
        "success_rate": s.success_rate,
        "failures": s.failures,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "avg_duration_ms": s.avg_duration_ms,
        "start": u.start.isoformat() if u.start else None,
        "end": u.end.isoformat() if u.end else None,
        "by_model": s.by_model,
        "by_function": s.by_function,
    }


def current_stats(
    store: Store, now: periods.Instant = None, filters: Filters | None = None
) -> dict[str, Any]:
    """``/stats/current``: the current clock hour and today, in the configured time zone."""
    hour = queries.summarize(store, periods.hour_range(store.tz, 0, now), filters)
    today = queries.summarize(store, periods.day_range(store.tz, 0, now)[0], filters)
    return {
        "current_hour": {
            "calls": hour.calls,
            "tokens": hour.total_tokens,
            "cost": hour.cost,
            "success_rate": hour.success_rate,
        },
        "today": {
            "calls": today.calls,
            "tokens": today.total_tokens,
            "cost": today.cost,
            "success_rate": today.success_rate,
            "by_model": today.by_model,
            "by_function": today.by_function,
        },
    }


def top_users(
    store: Store,
    limit: int = 100,
    days: int = 30,
    now: periods.Instant = None,
    filters: Filters | None = None,
) -> list[dict[str, Any]]:
    """Users ranked by cost over the ``days`` calendar days ending today: ``user_id, calls, tokens, cost``."""
    rng, _ = periods.last_days(store.tz, days, now)
    return queries.ranking(store, "user_id", rng, limit, filters)


def cost_trend_days(
    store: Store, days: int = 7, now: periods.Instant = None, filters: Filters | None = None
) -> list[dict[str, Any]]:
    """Cost per calendar day over the ``days`` days ending today, every day present (0 when none)."""
    _, dates = periods.last_days(store.tz, days, now)
    return queries.cost_trend(store, dates, filters)
