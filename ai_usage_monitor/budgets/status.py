"""Each budget's state now, as the surfaces show it (``GET /api/ai_usage/budgets``, the dashboard panel,
``/metrics``, the CLI): one row per budget, or per scope value for budgets with ``"*"``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from ai_usage_monitor.budgets.config import Budget, period_window
from ai_usage_monitor.budgets.ledger import Ledger, SpendStatus
from ai_usage_monitor.budgets.seed import seed_from_records

if TYPE_CHECKING:
    from ai_usage_monitor.config import Settings

__all__ = ["DEFAULT_WARNING_RATIO", "budget_rows", "budget_state"]

#: a budget is in "warning" from its highest threshold below 1 (this, when it has none)
DEFAULT_WARNING_RATIO = 0.8

State = Literal["ok", "warning", "exceeded"]


def budget_state(budget: Budget, spent: float) -> State:
    """``exceeded`` at the limit, ``warning`` from the highest threshold below it, else ``ok``."""
    if spent >= budget.limit and (spent > 0 or budget.limit == 0):
        return "exceeded"
    below = [t for t in budget.thresholds if t < 1]
    warning = max(below) if below else DEFAULT_WARNING_RATIO
    return "warning" if spent >= warning * budget.limit else "ok"


def _row(budget: Budget, counter: SpendStatus) -> dict[str, Any]:
    ratio = counter.spent / budget.limit if budget.limit > 0 else (1.0 if counter.spent > 0 else 0.0)
    return {
        "name": budget.name,
        "period": counter.period,
        "scope": dict(budget.scope),
        "scope_value": counter.scope_value,
        "limit": budget.limit,
        "spent": counter.spent,
        "reserved": counter.reserved,
        "ratio": ratio,
        "state": budget_state(budget, counter.spent),
        "resets_at": counter.resets_at,
        "action": budget.action,
    }


def budget_rows(settings: Settings, ledger: Ledger, now: float | None = None) -> list[dict[str, Any]]:
    """The rows of ``GET /budgets`` for the periods holding ``now``, in the settings' order.

    ``period`` is the period's label (``2026-12-07``), ``resets_at`` a Unix time. A period's spend already
    in the records is counted first (once, as the guard does), so a fresh process shows the real state.
    """
    at = time.time() if now is None else now
    windows = {}
    for budget in settings.budgets:
        window = windows[budget.name] = period_window(at, budget.period, settings.tz)
        seed_from_records(ledger, budget, window, settings.records_dir, settings.tz)
    counters: dict[tuple[str, str], list[SpendStatus]] = {}
    for counter in ledger.status():
        counters.setdefault((counter.budget, counter.period), []).append(counter)
    rows: list[dict[str, Any]] = []
    for budget in settings.budgets:
        window = windows[budget.name]
        found = counters.get((budget.name, window.label), [])
        if not found and not budget.per_value_keys:
            found = [SpendStatus(budget.name, "", window.label, window.end, 0.0, 0.0)]
        rows.extend(_row(budget, counter) for counter in found)
    return rows
