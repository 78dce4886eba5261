"""``/dashboard``: everything the dashboard page shows, in one JSON; ``/config`` for the page's set-up."""

from __future__ import annotations

import time
from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter

from ai_usage_monitor.api.deps import DashboardRangeKey, FiltersDep, SettingsDep, StoreDep
from ai_usage_monitor.api.schemas import (
    AnchorRank,
    ConfigInfo,
    Dashboard,
    DashboardRange,
    ErrorRow,
    LatencyRow,
    RecordsDropped,
    SelectedTotals,
    Totals,
    TrendPoint,
    UnpricedModel,
    UserRank,
)
from ai_usage_monitor.bounds import NAME_MAX_CHARS
from ai_usage_monitor.exporter.drops import read_ledgers, summarize_drops
from ai_usage_monitor.store.backend import Store
from ai_usage_monitor.store.periods import day_range, hour_range, last_days, month_range
from ai_usage_monitor.store.queries import (
    Dimension,
    TimeRange,
    cost_trend,
    latency_by_model,
    ranking,
    recent_errors,
    summarize,
    unpriced_models,
)

__all__ = [
    "ERROR_ROWS",
    "LIST_ROWS",
    "SERVICE_ROWS",
    "TOP_ROWS",
    "TREND_DAYS",
    "config_router",
    "router",
    "selected_range",
]

router = APIRouter(tags=["dashboard"])
#: Open even when a token is required, so the page can tell it must ask for one.
config_router = APIRouter(tags=["dashboard"])

TOP_ROWS = 10
ERROR_ROWS = 20
TREND_DAYS = 30
#: Rows at most of each per-model / per-function list and breakdown (beyond them: ``other`` or left out),
#: so the answer stays small however many distinct names the records hold.
LIST_ROWS = 50
#: Services the picker offers at most (the most costly of all time).
SERVICE_ROWS = 200


def selected_range(key: str, tz: tzinfo, now: datetime) -> TimeRange:
    """The time range a dashboard range key stands for, at ``now``."""
    if key == "1h":
        return TimeRange(now.timestamp() - 3600.0, now.timestamp())
    if key == "today":
        return day_range(tz, 0, now)[0]
    if key == "month":
        return month_range(tz, now.year, now.month)
    return last_days(tz, int(key.removesuffix("d")), now)[0]


@router.get("/dashboard", response_model=Dashboard, summary="Everything the dashboard page needs")
def dashboard(store: StoreDep, filters: FiltersDep, range_key: DashboardRangeKey = "today") -> Dashboard:
    """Every panel over the records ``filters`` keep (``service=`` is the page's picker)."""
    tz = store.tz
    now = datetime.now(tz)
    selected = selected_range(range_key, tz, now)
    _, trend_days = last_days(tz, TREND_DAYS, now)

    def totals(rng: TimeRange) -> Totals:
        return Totals.of(summarize(store, rng, filters, breakdowns=False))

    def top(dimension: Dimension, limit: int, *, with_unknown: bool = False) -> list[dict[str, Any]]:
        return ranking(store, dimension, selected, limit, filters, with_unknown=with_unknown)

    return Dashboard(
        generated_at=time.time(),
        currency=store.settings.currency,
        timezone=store.settings.timezone,
        range=DashboardRange(key=range_key, start=selected.start, end=selected.end),
        current_hour=totals(hour_range(tz, 0, now)),
        today=totals(day_range(tz, 0, now)[0]),
        month=totals(month_range(tz, now.year, now.month)),
        selected=SelectedTotals.of(
            summarize(store, selected, filters, breakdowns=False),
            top("model", LIST_ROWS + 1, with_unknown=True),
            top("function", LIST_ROWS + 1, with_unknown=True),
            LIST_ROWS,
        ),
        cost_trend=[TrendPoint.model_validate(row) for row in cost_trend(store, trend_days, filters)],
        top_users=[UserRank.model_validate(row) for row in top("user_id", TOP_ROWS)],
        top_anchors=[AnchorRank.model_validate(row) for row in top("anchor_id", TOP_ROWS)],
        latency_by_model=[
            LatencyRow.model_validate(row) for row in latency_by_model(store, selected, filters)[:LIST_ROWS]
        ],
        recent_errors=[
            ErrorRow.model_validate(row) for row in recent_errors(store, ERROR_ROWS, selected, filters)
        ],
        unpriced_models=[
            UnpricedModel.model_validate(row) for row in unpriced_models(store, selected, filters)[:LIST_ROWS]
        ],
        records_dropped=RecordsDropped.model_validate(
            summarize_drops(read_ledgers(store.settings.records_dir))
        ),
        services=_picker_services(store),
        service=None if filters is None else filters.service,
    )


def _picker_services(store: Store) -> list[str]:
    """The services the page's picker offers: the most costly of all time, a name too long to serve left
    out (a cut name would filter nothing)."""
    rows = ranking(store, "service", None, SERVICE_ROWS)
    return [row["service"] for row in rows if len(row["service"]) <= NAME_MAX_CHARS]


@config_router.get(
    "/config", response_model=ConfigInfo, summary="Currency, time zone, whether a token is needed"
)
def config(settings: SettingsDep) -> ConfigInfo:
    return ConfigInfo(
        currency=settings.currency, timezone=settings.timezone, auth_required=bool(settings.api_token)
    )
