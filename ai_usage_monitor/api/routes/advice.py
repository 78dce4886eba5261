"""Advice priced on the team's own traffic (``insights/advice.py``), highest monthly saving first."""

from __future__ import annotations

from fastapi import APIRouter

from ai_usage_monitor.api.deps import Days, StoreDep
from ai_usage_monitor.api.schemas import AdviceReport
from ai_usage_monitor.insights import advise_last_days
from ai_usage_monitor.pricing import get_pricer

__all__ = ["router"]

router = APIRouter(tags=["advice"])


@router.get("/advice", response_model=AdviceReport, summary="What to change to spend less, priced per month")
def advice(store: StoreDep, days: Days = 30) -> AdviceReport:
    """Re-prices the last ``days`` days' calls under cheaper same-kind models, without thinking, at tier 0
    and with more cache hits, and sums what failed calls cost; each saving scaled to 30 days."""
    pricer = get_pricer(store.settings)
    items = [item.to_dict() for item in advise_last_days(store, pricer, days)]
    return AdviceReport.model_validate({"currency": pricer.currency, "period_days": days, "items": items})
