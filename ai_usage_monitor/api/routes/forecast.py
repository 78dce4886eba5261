"""The month-end forecast with its 80% band, for the team and per model, function or anchor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ai_usage_monitor.api.deps import StoreDep
from ai_usage_monitor.api.schemas import Forecast
from ai_usage_monitor.insights.report import Scope, build_forecast

__all__ = ["router"]

router = APIRouter(tags=["forecast"])

ScopeParam = Annotated[
    Scope, Query(description="all: the team; model, function or anchor: one entry per value, plus all")
]


@router.get(
    "/forecast", response_model=Forecast, summary="Expected spend at month end and today, with a band"
)
def forecast_route(store: StoreDep, scope: ScopeParam = "all") -> Forecast:
    return Forecast.model_validate(build_forecast(store, scope))
