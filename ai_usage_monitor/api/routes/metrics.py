"""``/metrics``: the Prometheus text exposition of the app's own registry (docs/architecture.md §7)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ai_usage_monitor.api.deps import RegistryDep
from ai_usage_monitor.exporter.prometheus import exposition

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics computed from the record index",
    responses={200: {"description": "Prometheus text format", "content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(registry: RegistryDep) -> Response:
    return Response(exposition(registry), media_type=CONTENT_TYPE_LATEST)
