"""``BudgetExceeded``: what a ``block`` budget raises before a call it cannot afford leaves the process."""

from __future__ import annotations

from datetime import datetime, tzinfo

__all__ = ["BudgetExceeded"]


class BudgetExceeded(Exception):
    """A ``block`` budget cannot afford the call's worst case; the request was not sent.

    ``spent`` and ``reserved`` are the budget's counter when it refused, ``needed`` the call's worst
    case, ``resets_at`` the Unix time its period ends.
    """

    def __init__(
        self,
        budget: str,
        scope_value: str,
        *,
        spent: float,
        reserved: float,
        limit: float,
        needed: float,
        period: str,
        resets_at: float,
        currency: str = "CNY",
        tz: tzinfo | None = None,
    ) -> None:
        self.budget = budget
        self.scope_value = scope_value
        self.spent = spent
        self.reserved = reserved
        self.limit = limit
        self.needed = needed
        self.period = period
        self.resets_at = resets_at
        self.currency = currency
        resets = datetime.fromtimestamp(resets_at, tz).isoformat(timespec="seconds")
        scope = f" ({scope_value})" if scope_value else ""
        super().__init__(
            f"budget {budget!r}{scope} cannot afford this call: spent {spent:.4f} {currency} of "
            f"{limit:.4f} for {period} ({reserved:.4f} held by calls in flight; this call may cost up "
            f"to {needed:.4f}); it resets at {resets}"
        )
