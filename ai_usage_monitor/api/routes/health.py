"""``/health``: the store's own state — records indexed, corrupt lines skipped, lines still torn, lag — and
the records writing processes dropped."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ai_usage_monitor.api.deps import StoreDep
from ai_usage_monitor.api.schemas import Health, RecordsDropped
from ai_usage_monitor.exporter.drops import read_ledgers, summarize_drops

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    summary="The store's state",
    responses={503: {"model": Health, "description": "The store cannot read the records"}},
)
def health(store: StoreDep, response: Response) -> Health:
    report = Health.model_validate(store.health())
    report.records_dropped = RecordsDropped.model_validate(
        summarize_drops(read_ledgers(store.settings.records_dir))
    )
    if report.status not in ("ok", "degraded"):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return report
