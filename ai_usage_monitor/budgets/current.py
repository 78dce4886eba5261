"""The budgets' status now, read from the ledger the settings name and from the records folder (the
inputs of ``budgets.status.build_status``); reading never writes a counter or seeds a period."""

from __future__ import annotations

import time

from ai_usage_monitor.budgets.config import Budget, PeriodWindow
from ai_usage_monitor.budgets.ledger import SpendStatus, open_ledger
from ai_usage_monitor.budgets.local_ledger import LEDGER_DIR, LEDGER_FILE
from ai_usage_monitor.budgets.seed import spend_in_records
from ai_usage_monitor.budgets.status import BudgetStatus, build_status
from ai_usage_monitor.config import Settings
from ai_usage_monitor.internal import handle_internal_error

__all__ = ["current_status", "ledger_counters"]


def ledger_counters(settings: Settings) -> list[SpendStatus]:
    """Every counter of the settings' ledger; none when the host's ledger file does not exist yet (it is
    not created for a read) or the ledger cannot be read (an internal error: the records answer instead)."""
    if not settings.budget_store and not (settings.records_dir / LEDGER_DIR / LEDGER_FILE).exists():
        return []
    try:
        ledger = open_ledger(settings)
        try:
            return ledger.status()
        finally:
            ledger.close()
    except Exception as exc:
        handle_internal_error("budgets.status", exc)
        return []


def current_status(settings: Settings, *, top_n: int, now: float | None = None) -> BudgetStatus:
    """Every configured budget in its current period (``"*"`` budgets: their ``top_n`` values by spend)."""
    if not settings.budgets:
        return BudgetStatus()
    tz = settings.tz

    def recorded(budget: Budget, window: PeriodWindow) -> dict[str, float]:
        return spend_in_records(settings.records_dir, tz, budget, window)

    return build_status(
        settings.budgets,
        ledger_counters(settings),
        recorded,
        now=time.time() if now is None else now,
        tz=tz,
        top_n=top_n,
    )
