"""Where each budget stands in its current period: pure functions from the settings, the ledger's counters
and the records' spend to the rows the REST API, ``/metrics``, the dashboard and the CLI show.

The truth is the ledger (what the guard enforces). A budget whose current period the ledger has not seen
yet (no process has seeded or spent it, e.g. a server started before any guarded call) is shown with the
records' spend of the period, which is exactly what the ledger will be seeded with (docs/budgets.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal

from ai_usage_monitor.budgets.config import Budget, PeriodWindow, period_window
from ai_usage_monitor.budgets.ledger import SpendStatus

__all__ = [
    "BudgetRow",
    "BudgetStatus",
    "Omitted",
    "RecordedSpend",
    "State",
    "as_json",
    "build_status",
    "ratio_of",
    "state_of",
    "warning_ratio",
]

State = Literal["ok", "warning", "exceeded"]
Source = Literal["ledger", "records"]
#: the records' spend of a budget's period per scope value (``budgets.seed.spend_in_records``)
RecordedSpend = Callable[[Budget, PeriodWindow], Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """One budget (or one scope value of a ``"*"`` budget) in its current period.

    ``scope_value`` is ``""`` for a budget without ``"*"``, and ``None`` for a ``"*"`` budget no value
    has spent from yet this period.
    """

    name: str
    period: str
    scope: dict[str, str]
    scope_value: str | None
    limit: float
    spent: float
    reserved: float
    ratio: float
    state: State
    resets_at: float
    action: str
    source: Source


@dataclass(frozen=True, slots=True)
class Omitted:
    """The values of a ``"*"`` budget beyond the top N shown: how many, their spend, their worst ratio."""

    name: str
    limit: float
    count: int
    spent: float
    reserved: float
    max_ratio: float


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    rows: list[BudgetRow] = field(default_factory=list)
    omitted: list[Omitted] = field(default_factory=list)


def ratio_of(spent: float, limit: float) -> float:
    """``spent / limit``; a zero limit counts as used up (1.0), so it shows as exceeded."""
    return spent / limit if limit > 0 else 1.0


def warning_ratio(budget: Budget) -> float | None:
    """The highest threshold below 1.0: reaching it makes the state ``warning`` (``None``: never)."""
    below = [t for t in budget.thresholds if t < 1.0]
    return max(below) if below else None


def state_of(budget: Budget, ratio: float) -> State:
    """``exceeded`` at ratio ≥ 1.0, ``warning`` from the highest threshold below 1.0, else ``ok``."""
    if ratio >= 1.0:
        return "exceeded"
    warn = warning_ratio(budget)
    return "warning" if warn is not None and ratio >= warn else "ok"


def _row(
    budget: Budget, value: str | None, counter: tuple[float, float], window: PeriodWindow, source: Source
) -> BudgetRow:
    spent, reserved = counter
    ratio = ratio_of(spent, budget.limit)
    return BudgetRow(
        name=budget.name,
        period=budget.period,
        scope=dict(budget.scope),
        scope_value=value,
        limit=budget.limit,
        spent=spent,
        reserved=reserved,
        ratio=ratio,
        state=state_of(budget, ratio),
        resets_at=window.end,
        action=budget.action,
        source=source,
    )


def _counters(
    budget: Budget, window: PeriodWindow, ledger: Iterable[SpendStatus], recorded: RecordedSpend
) -> tuple[dict[str, tuple[float, float]], Source]:
    """(spent, reserved) per scope value of the budget's current period, and where they came from."""
    seen = {s.scope_value: (s.spent, s.reserved) for s in ledger if s.budget == budget.name}
    if seen:
        return seen, "ledger"
    return {value: (spent, 0.0) for value, spent in recorded(budget, window).items()}, "records"


def build_status(
    budgets: Sequence[Budget],
    ledger: Sequence[SpendStatus],
    recorded: RecordedSpend,
    *,
    now: float,
    tz: tzinfo,
    top_n: int,
) -> BudgetStatus:
    """The rows of every budget at Unix time ``now``, in the settings' order; a ``"*"`` budget lists its
    ``top_n`` values by spend (then name), and states how many more there are in ``omitted``."""
    status = BudgetStatus()
    for budget in budgets:
        window = period_window(now, budget.period, tz)
        current = [s for s in ledger if s.period == window.label]
        counters, source = _counters(budget, window, current, recorded)
        if not budget.per_value_keys:
            status.rows.append(_row(budget, "", counters.get("", (0.0, 0.0)), window, source))
            continue
        if not counters:
            status.rows.append(_row(budget, None, (0.0, 0.0), window, source))
            continue
        ranked = sorted(counters, key=lambda v: (-counters[v][0], v))
        shown = ranked[:top_n]
        status.rows.extend(_row(budget, value, counters[value], window, source) for value in shown)
        rest = ranked[len(shown) :]
        if rest:
            status.omitted.append(
                Omitted(
                    name=budget.name,
                    limit=budget.limit,
                    count=len(rest),
                    spent=sum(counters[v][0] for v in rest),
                    reserved=sum(counters[v][1] for v in rest),
                    max_ratio=max(ratio_of(counters[v][0], budget.limit) for v in rest),
                )
            )
    return status


def as_json(status: BudgetStatus, tz: tzinfo, currency: str) -> dict[str, Any]:
    """The REST answer (``GET /api/ai_usage/budgets``, ``ai-usage-monitor budgets --json``): reset times
    as ISO 8601 in ``tz``."""
    rows = [
        {**asdict(row), "resets_at": datetime.fromtimestamp(row.resets_at, tz).isoformat()}
        for row in status.rows
    ]
    return {"currency": currency, "budgets": rows, "omitted": [asdict(o) for o in status.omitted]}
