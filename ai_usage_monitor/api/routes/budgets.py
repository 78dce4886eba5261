"""``/budgets``: every budget's spend, reservations and state in its current period (docs/budgets.md)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ai_usage_monitor.api.deps import InRange, SettingsDep
from ai_usage_monitor.api.schemas import BudgetList, BudgetOmitted, BudgetState
from ai_usage_monitor.budgets.current import current_status

__all__ = ["router"]

router = APIRouter(tags=["budgets"])

Top = Annotated[int, InRange("top", 1, 1000, 'Scope values listed per "*" budget, by spend')]


@router.get("/budgets", response_model=BudgetList, summary="Every budget in its current period")
async def list_budgets(settings: SettingsDep, top: Top = 20) -> BudgetList:
    status = await run_in_threadpool(current_status, settings, top_n=top)
    tz = settings.tz
    rows = [
        BudgetState.model_validate(
            {**asdict(row), "resets_at": datetime.fromtimestamp(row.resets_at, tz).isoformat()}
        )
        for row in status.rows
    ]
    omitted = [BudgetOmitted.model_validate(asdict(o)) for o in status.omitted]
    return BudgetList(currency=settings.currency, budgets=rows, omitted=omitted)
