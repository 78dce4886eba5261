"""Top users, anchors, functions, models, services and hosts by cost over the last N days."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from ai_usage_monitor.api.deps import Days, FiltersDep, Limit, StoreDep
from ai_usage_monitor.api.schemas import TopAnchors, TopFunctions, TopHosts, TopModels, TopServices, TopUsers
from ai_usage_monitor.store.periods import last_days
from ai_usage_monitor.store.queries import Dimension, ranking

__all__ = ["router"]

router = APIRouter(tags=["rankings"])


def _add_ranking(path: str, dimension: Dimension, key: str, model: type[BaseModel], what: str) -> None:
    def endpoint(store: StoreDep, filters: FiltersDep, limit: Limit = 10, days: Days = 7) -> Any:
        rng, _ = last_days(store.tz, days)
        rows = ranking(store, dimension, rng, limit, filters)
        return model.model_validate({"period_days": days, key: rows})

    endpoint.__name__ = key
    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        response_model=model,
        name=key,
        summary=f"Top {what} by cost, highest first",
    )


_add_ranking("/top_users", "user_id", "top_users", TopUsers, "users")
_add_ranking("/top_anchors", "anchor_id", "top_anchors", TopAnchors, "anchors")
_add_ranking("/top_functions", "function", "top_functions", TopFunctions, "functions")
_add_ranking("/top_models", "model", "top_models", TopModels, "models")
_add_ranking("/top_services", "service", "top_services", TopServices, "services (apps)")
_add_ranking("/top_hosts", "host", "top_hosts", TopHosts, "hosts")
