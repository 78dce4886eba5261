"""``/budgets``: every budget's spend, reservations and state in its current period (docs/budgets.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ai_usage_monitor.api.deps import InRange, SettingsDep
from ai_usage_monitor.api.schemas import BudgetList
from ai_usage_monitor.budgets.current import current_status
from ai_usage_monitor.budgets.status import as_json

__all__ = ["router"]

router = APIRouter(tags=["budgets"])

Top = Annotated[int, InRange("top", 1, 1000, 'Scope values listed per "*" budget, by spend')]


@router.get("/budgets", response_model=BudgetList, summary="Every budget in its current period")
async def list_budgets(settings: SettingsDep, top: Top = 20) -> BudgetList:
    status = await run_in_threadpool(current_status, settings, top_n=top)
    return BudgetList.model_validate(as_json(status, settings.tz, settings.currency))
