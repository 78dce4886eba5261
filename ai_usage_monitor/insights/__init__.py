"""What the records say about what comes next: the month-end forecast (``forecast``, ``report``)."""

from __future__ import annotations

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
    "Band",
    "DayBand",
    "PeriodForecast",
    "build_forecast",
    "forecast_month",
    "runs_out_at",
    "share_elapsed",
    "statsmodels_available",
]
