"""What the records say: advice priced on the team's own traffic, and the month-end forecast."""

from __future__ import annotations

from ai_usage_monitor.insights.advice import Advice, advise, advise_last_days
from ai_usage_monitor.insights.forecast import (
    Band,
    DayBand,
    PeriodForecast,
    forecast_month,
    runs_out_at,
    share_elapsed,
    statsmodels_available,
)
from ai_usage_monitor.insights.report import SCOPES, build_forecast

__all__ = [
    "SCOPES",
    "Advice",
    "Band",
    "DayBand",
    "PeriodForecast",
    "advise",
    "advise_last_days",
    "build_forecast",
    "forecast_month",
    "runs_out_at",
    "share_elapsed",
    "statsmodels_available",
]
