"""The pre-call budget guard: before an instrumented call goes out, reserve its worst case on every
``block`` and ``downgrade`` budget it matches; refuse it (``BudgetExceeded``) or switch its model when a
budget cannot afford it; settle the reservations to the real cost when the call's record is made.

``notify`` budgets never hold anything back: the call's cost is added when it ends. Every counted spend
is checked against the budget's alert thresholds (``ThresholdAlerts``). See docs/budgets.md.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from ai_usage_monitor.budgets.alerts import ThresholdAlerts
from ai_usage_monitor.budgets.config import Budget, PeriodClock, PeriodWindow, scope_value
from ai_usage_monitor.budgets.exceeded import BudgetExceeded
from ai_usage_monitor.budgets.ledger import Ledger, Refusal, Reservation, open_ledger
from ai_usage_monitor.budgets.seed import seed_from_records
from ai_usage_monitor.budgets.sliced_ledger import SlicedLedger
from ai_usage_monitor.budgets.worst_case import WorstCaseRates

if TYPE_CHECKING:
    from ai_usage_monitor.config import Settings
    from ai_usage_monitor.context import UsageContext
    from ai_usage_monitor.instrumentation.core import CallInfo
    from ai_usage_monitor.pricing import Pricer
    from ai_usage_monitor.records import UsageRecord

__all__ = ["DOWNGRADED_FROM_TAG", "BudgetGuard", "Ticket"]

#: the record tag naming the model a ``downgrade`` budget switched the call from
DOWNGRADED_FROM_TAG = "downgraded_from"
#: the record tag naming the budget that switched it
DOWNGRADED_BY_TAG = "downgraded_by"
_ACTION_ORDER = {"downgrade": 0, "block": 1, "notify": 2}


class Ticket:
    """What the guard holds for one call until its record is made."""

    __slots__ = ("counted", "downgraded_by", "downgraded_from", "held")

    def __init__(self) -> None:
        self.held: list[tuple[Budget, PeriodWindow, Reservation]] = []
        #: counters the call's cost is added to without a reservation (``notify`` budgets)
        self.counted: list[tuple[Budget, str, PeriodWindow]] = []
        self.downgraded_from: str | None = None
        self.downgraded_by: str | None = None


class _Planned:
    """One budget as the hot path reads it, with the window of its period this process last seeded."""

    __slots__ = ("action", "budget", "clock", "limit", "name", "scoped", "window")

    def __init__(self, budget: Budget, clock: PeriodClock) -> None:
        self.budget, self.clock = budget, clock
        self.name, self.limit, self.action = budget.name, budget.limit, budget.action
        #: whether its scope needs the call's attributes (``{}`` matches every call)
        self.scoped = bool(budget.scope)
        self.window = PeriodWindow(budget.period, "", math.inf, -math.inf)


class BudgetGuard:
    """The budgets of one settings object over one ledger; shared by every thread of the process."""

    def __init__(self, settings: Settings, pricer: Pricer, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self.rates = WorstCaseRates(pricer)
        self.ledger = ledger if ledger is not None else open_ledger(settings)
        self._sliced = isinstance(self.ledger, SlicedLedger)
        # downgrade budgets first (a switched model lowers what the others reserve), notify last
        budgets = sorted(settings.budgets, key=lambda b: _ACTION_ORDER[b.action])
        self._plan = [_Planned(budget, PeriodClock(budget.period, settings.tz)) for budget in budgets]
        self._any_scoped = any(budget.scope for budget in budgets)
        self.alerts = ThresholdAlerts(settings)

    def window(self, budget: Budget, ts: float, clock: PeriodClock) -> PeriodWindow:
        """The budget's period holding ``ts``, its recorded spend counted in the ledger once (the ledger's
        ``seed_once`` remembers the periods it has seeded)."""
        window = clock.window(ts)
        seed_from_records(self.ledger, budget, window, self.settings.records_dir, self.settings.tz)
        return window

    def before(
        self,
        call: CallInfo,
        ctx: UsageContext,
        fallback_model: str | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> tuple[Ticket | None, tuple[Any, ...]]:
        """Reserve the call's worst case on its budgets; returns the ticket (``None``: no budget matches)
        and the positional arguments to call with (a downgrade may change a positional model).

        Raises ``BudgetExceeded`` (nothing left held) when a ``block`` budget cannot afford the call.
        """
        model = call.request_model or fallback_model or ""
        subject = (
            {
                "provider": call.provider,
                "model": model,
                "function": ctx.function,
                "user_id": ctx.user_id,
                "anchor_id": ctx.anchor_id,
                "session_id": ctx.session_id,
                "tags": ctx.tags,
            }
            if self._any_scoped
            else None
        )
        ticket: Ticket | None = None
        now = time.time()
        cost: float | None = None
        try:
            for plan in self._plan:
                budget = plan.budget
                value = scope_value(budget, subject) if plan.scoped else ""
                if value is None:
                    continue
                window = plan.window
                if not window.start <= now < window.end:  # a new period: seeded once, then reused
                    window = plan.window = self.window(budget, now, plan.clock)
                if ticket is None:
                    ticket = Ticket()
                action = plan.action
                if action == "notify":
                    # with slices, a reservation of nothing is served in memory (an add is a shared operation)
                    got = (
                        self.ledger.reserve(plan.name, value, window, 0.0, plan.limit)
                        if self._sliced
                        else None
                    )
                    if isinstance(got, Reservation):
                        ticket.held.append((budget, window, got))
                    else:  # no slices, or the budget is spent (a notify budget goes on past its limit)
                        ticket.counted.append((budget, value, window))
                    continue
                if cost is None:
                    cost = self.rates.call_cost(call.provider, model, args, kwargs, call.thinking, now)
                got = self.ledger.reserve(plan.name, value, window, cost, plan.limit)
                if isinstance(got, Reservation):
                    ticket.held.append((budget, window, got))
                elif action == "downgrade" and ticket.downgraded_from is None and budget.downgrade_to:
                    args = _switch_model(call, args, kwargs, budget.downgrade_to)
                    ticket.downgraded_from, ticket.downgraded_by = model, budget.name
                    model, cost = budget.downgrade_to, None
                    ticket.counted.append((budget, value, window))
                elif action == "downgrade":  # already switched: the cheaper call goes out, counted
                    ticket.counted.append((budget, value, window))
                else:
                    self.alerts.refused(budget, value, window, got.spent)
                    raise self._exceeded(budget, got)
        except BaseException:
            if ticket is not None:  # refused, or Redis failed on a second budget: nothing stays held
                self.release(ticket)
            raise
        return ticket, args

    def _exceeded(self, budget: Budget, refusal: Refusal) -> BudgetExceeded:
        return BudgetExceeded(
            budget.name,
            refusal.scope_value,
            spent=refusal.spent,
            reserved=refusal.reserved,
            limit=refusal.limit,
            needed=refusal.amount,
            period=refusal.period,
            resets_at=refusal.resets_at,
            currency=self.settings.currency,
            tz=self.settings.tz,
        )

    def release(self, ticket: Ticket) -> None:
        """Give back what a call that never went out held."""
        held, ticket.held = ticket.held, []
        for _, _, reservation in held:
            self.ledger.settle(reservation, 0.0)

    def after(self, ticket: Ticket, record: UsageRecord) -> None:
        """Settle the call's reservations to its real cost, add it to the other counters, then alert."""
        if ticket.downgraded_from is not None:
            record.tags[DOWNGRADED_FROM_TAG] = ticket.downgraded_from
            record.tags[DOWNGRADED_BY_TAG] = ticket.downgraded_by or ""
        cost = record.cost if record.cost > 0 else 0.0  # NaN and unpriced calls count as nothing
        held, ticket.held = ticket.held, []
        for budget, window, reservation in held:
            spent = self.ledger.settle(reservation, cost)
            if budget.channels:
                self.alerts.check(budget, reservation.scope_value, window, spent)
        if cost:
            for budget, value, window in ticket.counted:
                self.alerts.check(budget, value, window, self.ledger.add(budget.name, value, window, cost))

    def add(self, record: UsageRecord) -> None:
        """Count a record made outside the instrumented calls (``record_ai_usage``); never refused."""
        cost = record.cost
        if not cost > 0:
            return
        for plan in self._plan:
            budget = plan.budget
            value = scope_value(budget, record)
            if value is not None:
                window = self.window(budget, record.timestamp, plan.clock)
                self.alerts.check(budget, value, window, self.ledger.add(budget.name, value, window, cost))

    def close(self) -> None:
        self.ledger.close()


def _switch_model(
    call: CallInfo, args: tuple[Any, ...], kwargs: dict[str, Any], model: str
) -> tuple[Any, ...]:
    """Send the call to ``model``: the ``model`` keyword, or DashScope's positional first argument."""
    if "model" in kwargs or not args:
        kwargs["model"] = model
    else:
        args = (model, *args[1:])
    call.request_model = model
    return args
