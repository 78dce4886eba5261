"""The spend ledger: per budget, scope value and period, what was spent and what is reserved.

A call reserves its worst case before it goes out (``reserve``: an atomic check-and-add, refused when
spent + reserved + amount would pass the limit) and settles to its real cost when it ends (``settle``).
Reservations carry a lease: one its process never settled (the process died) stops holding budget when
the lease runs out. Two backends share this interface: a file under ``<records_dir>/.budgets/`` for the
processes of one host (``local_ledger``), and Redis for several hosts (``redis_ledger``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ai_usage_monitor.budgets.config import PeriodWindow

if TYPE_CHECKING:
    from ai_usage_monitor.config import Settings

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "Ledger",
    "Refusal",
    "Reservation",
    "SpendLoader",
    "SpendStatus",
    "open_ledger",
]

DEFAULT_LEASE_SECONDS = 900.0
#: the spend of a period per scope value, read from the records when the ledger first meets the period
SpendLoader = Callable[[], Mapping[str, float]]


@dataclass(slots=True)
class Reservation:
    """Budget held for one call until it is settled (or its lease runs out). Not frozen: one is made per
    guarded call, and a frozen dataclass's ``__init__`` costs about three times more."""

    budget: str
    scope_value: str
    period: str
    resets_at: float
    amount: float
    #: the ledger's own handle of the hold (the local file's token and counter, a string in Redis and in
    #: slices)
    token: Any


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reservation the budget could not afford: what was spent and held when it was refused."""

    budget: str
    scope_value: str
    period: str
    resets_at: float
    amount: float
    spent: float
    reserved: float
    limit: float


@dataclass(frozen=True, slots=True)
class SpendStatus:
    """One counter of the ledger: a budget's spend and live reservations for one scope value and period."""

    budget: str
    scope_value: str
    period: str
    resets_at: float
    spent: float
    reserved: float


class Ledger(ABC):
    """The operations every backend provides; safe to share between threads."""

    def __init__(self, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.lease_seconds = lease_seconds
        self._seeded: set[tuple[str, str]] = set()
        self._seeded_lock = threading.Lock()

    @abstractmethod
    def reserve(
        self, budget: str, scope_value: str, window: PeriodWindow, amount: float, limit: float
    ) -> Reservation | Refusal:
        """Hold ``amount`` unless spent + reserved + amount would pass ``limit`` (then a ``Refusal``)."""

    @abstractmethod
    def settle(self, reservation: Reservation, actual: float) -> float | None:
        """Release the reservation and count the call's real cost (also after its lease ran out).

        Returns the counter's spend after it (``None`` when only a process-local slice changed)."""

    @abstractmethod
    def add(self, budget: str, scope_value: str, window: PeriodWindow, actual: float) -> float | None:
        """Count spend that had no reservation (e.g. ``record_ai_usage``); never refused. Returns the
        counter's spend after it."""

    @abstractmethod
    def status(self) -> list[SpendStatus]:
        """Every counter the ledger holds, with only live (unexpired) reservations counted."""

    @abstractmethod
    def _seed(self, budget: str, window: PeriodWindow, load: SpendLoader) -> bool:
        """Add ``load()`` to the period's counters unless a process already did; ``True`` if this one did."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files (a later operation opens them again)."""

    def seed_once(self, budget: str, window: PeriodWindow, load: SpendLoader) -> bool:
        """Count a period's spend already in the records, exactly once per period across processes.

        Cheap after the first call for a period in this process; ``True`` when this call did the seeding.
        """
        key = (budget, window.label)
        if key in self._seeded:
            return False
        with self._seeded_lock:
            if key in self._seeded:
                return False
            seeded = self._seed(budget, window, load)
            self._seeded.add(key)
            return seeded


def open_ledger(settings: Settings) -> Ledger:
    """The ledger the settings ask for: Redis with ``budget_store``, else the records folder's file;
    served from per-process slices when ``budget_slice`` is set."""
    ledger: Ledger
    if settings.budget_store:
        from ai_usage_monitor.budgets.redis_ledger import RedisLedger

        ledger = RedisLedger(settings.budget_store, lease_seconds=settings.budget_lease_seconds)
    else:
        from ai_usage_monitor.budgets.local_ledger import LocalLedger

        ledger = LocalLedger(settings.records_dir, lease_seconds=settings.budget_lease_seconds)
    if settings.budget_slice > 0:
        from ai_usage_monitor.budgets.sliced_ledger import SlicedLedger

        ledger = SlicedLedger(ledger, slice_fraction=settings.budget_slice)
    return ledger
