"""Period summaries (current, hourly, daily, monthly, session) and the per-day / per-model series.

The summary shapes come from ``store.summaries``, which the Python API shares, so both always agree.
"""

from __future__ import annotations

from fastapi import APIRouter

from ai_usage_monitor.api.deps import (
    Days,
    DaysAgo,
    FiltersDep,
    HoursAgo,
    Limit,
    Month,
    SessionId,
    StoreDep,
    TrendDays,
    Year,
)
from ai_usage_monitor.api.schemas import (
    CostTrend,
    CurrentStats,
    DailySummary,
    ErrorRow,
    HourlySummary,
    LatencyReport,
    LatencyRow,
    MonthlySummary,
    RecentErrors,
    SessionSummary,
    TrendPoint,
    UnpricedModel,
    UnpricedModels,
)
from ai_usage_monitor.store import summaries
from ai_usage_monitor.store.periods import last_days
from ai_usage_monitor.store.queries import latency_by_model, recent_errors, unpriced_models

__all__ = ["router"]

router = APIRouter(tags=["stats"])


@router.get("/stats/current", response_model=CurrentStats, summary="The current clock hour and today")
def current_stats(store: StoreDep, filters: FiltersDep) -> CurrentStats:
    return CurrentStats.model_validate(summaries.current_stats(store, filters=filters))


@router.get("/stats/hourly", response_model=HourlySummary, summary="One local clock hour")
def hourly_stats(store: StoreDep, filters: FiltersDep, hours_ago: HoursAgo = 0) -> HourlySummary:
    summary = summaries.hourly_summary(store, hours_ago, filters=filters)
    return HourlySummary.model_validate(summary.to_dict())


@router.get("/stats/daily", response_model=DailySummary, summary="One local calendar day")
def daily_stats(store: StoreDep, filters: FiltersDep, days_ago: DaysAgo = 0) -> DailySummary:
    return DailySummary.model_validate(summaries.daily_summary(store, days_ago, filters=filters).to_dict())


@router.get("/stats/monthly", response_model=MonthlySummary, summary="One local calendar month")
def monthly_stats(
    store: StoreDep, filters: FiltersDep, year: Year = None, month: Month = None
) -> MonthlySummary:
    summary = summaries.monthly_summary(store, year, month, filters=filters)
    return MonthlySummary.model_validate(summary.to_dict())


@router.get(
    "/stats/session/{session_id:path}", response_model=SessionSummary, summary="Every call of a session"
)
def session_stats(store: StoreDep, session_id: SessionId, filters: FiltersDep) -> SessionSummary:
    return SessionSummary.model_validate(summaries.session_summary(store, session_id, filters).to_dict())


@router.get("/cost_trend", response_model=CostTrend, summary="Cost, calls and tokens per local day")
def cost_trend_route(store: StoreDep, filters: FiltersDep, days: TrendDays = 30) -> CostTrend:
    rows = summaries.cost_trend_days(store, days, filters=filters)
    return CostTrend(period_days=days, data=[TrendPoint.model_validate(row) for row in rows])


@router.get("/latency", response_model=LatencyReport, summary="Call duration per model")
def latency_route(store: StoreDep, filters: FiltersDep, days: Days = 7) -> LatencyReport:
    rng, _ = last_days(store.tz, days)
    rows = latency_by_model(store, rng, filters)
    return LatencyReport(period_days=days, latency_by_model=[LatencyRow.model_validate(row) for row in rows])


@router.get("/recent_errors", response_model=RecentErrors, summary="The newest failed calls")
def recent_errors_route(store: StoreDep, filters: FiltersDep, limit: Limit = 20) -> RecentErrors:
    rows = recent_errors(store, limit, filters=filters)
    return RecentErrors(recent_errors=[ErrorRow.model_validate(row) for row in rows])


@router.get("/unpriced_models", response_model=UnpricedModels, summary="Models called without a known price")
def unpriced_models_route(store: StoreDep, filters: FiltersDep, days: Days = 30) -> UnpricedModels:
    rng, _ = last_days(store.tz, days)
    rows = unpriced_models(store, rng, filters)
    return UnpricedModels(
        period_days=days, unpriced_models=[UnpricedModel.model_validate(row) for row in rows]
    )
