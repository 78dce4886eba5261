"""A cheaper path over a shared ledger: each process reserves a slice of a budget and serves its calls'
reservations from it in memory, so most calls cost a lock and a few additions instead of a transaction.

A slice is an ordinary reservation in the shared ledger, so concurrent callers still cannot pass a limit.
What it costs (docs/budgets.md): a caller may be refused while other processes hold unused slices, by
about one slice per process; a process killed without ``close()`` loses the spend of its open slices from
the ledger when their leases end (at most one slice plus its calls in flight). Slices are returned at exit.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref

from ai_usage_monitor.budgets.config import PeriodWindow
from ai_usage_monitor.budgets.ledger import Ledger, Refusal, Reservation, SpendLoader, SpendStatus

__all__ = ["DEFAULT_SLICE_FRACTION", "SlicedLedger"]

#: a slice is this fraction of the budget's limit (or one call's worst case, when that is more)
DEFAULT_SLICE_FRACTION = 0.02


class _Slice:
    """Budget reserved in the shared ledger by this process, drawn on by its calls."""

    __slots__ = ("actual", "free", "held", "inflight", "retired", "taken_at")

    def __init__(self, held: Reservation) -> None:
        self.held = held
        self.free = held.amount
        self.actual = 0.0
        self.inflight = 0
        self.retired = False
        self.taken_at = time.monotonic()


#: seconds between two looks for idle slices to return
_SWEEP_INTERVAL_S = 60.0

_Current = dict[tuple[str, str, str], _Slice]


def _retire(current: _Current, key: tuple[str, str, str], part: _Slice) -> _Slice | None:
    """Stop drawing on a slice; it is returned (settled) once no call of it is in flight."""
    del current[key]
    part.retired = True
    return part if part.inflight == 0 else None


def _return_slices(inner: Ledger, lock: threading.Lock, current: _Current) -> None:
    """Settle every slice no call is drawing on, then close the shared ledger (at ``close()``, when the
    ledger is collected, or at exit: an exiting process must not hold budget until its leases end)."""
    with lock:
        idle = [part for key, part in list(current.items()) if _retire(current, key, part) is not None]
    for part in idle:
        inner.settle(part.held, part.actual)
    inner.close()


def _forget_in_child(ledger: SlicedLedger | None) -> None:
    if ledger is not None:
        ledger._forget_slices()


class SlicedLedger(Ledger):
    """Serves reservations from per-process slices of ``inner``; settles a slice when it is used up."""

    def __init__(self, inner: Ledger, *, slice_fraction: float = DEFAULT_SLICE_FRACTION) -> None:
        super().__init__(inner.lease_seconds)
        self.inner = inner
        self.slice_fraction = slice_fraction
        self._lock = threading.Lock()
        self._current: _Current = {}
        #: per counter, its shared spend as the last settle of a slice of this process returned it
        self._known: dict[tuple[str, str, str], float] = {}
        self._drawn: dict[str, _Slice] = {}
        self._tokens = itertools.count(1)
        self._next_sweep = 0.0
        self._finalizer = weakref.finalize(self, _return_slices, inner, self._lock, self._current)
        if hasattr(os, "register_at_fork"):  # POSIX
            alive = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_in_child(alive()))

    def _forget_slices(self) -> None:
        """In a forked child: the inherited slices are the parent's to draw on and settle, not this one's."""
        self._finalizer.detach()
        self._lock = threading.Lock()
        self._current = {}
        self._drawn = {}
        self._finalizer = weakref.finalize(self, _return_slices, self.inner, self._lock, self._current)

    def reserve(
        self, budget: str, scope_value: str, window: PeriodWindow, amount: float, limit: float
    ) -> Reservation | Refusal:
        key = (budget, scope_value, window.label)
        with self._lock:
            part = self._current.get(key)
            # a slice is left before half its lease has passed, so it never expires while still drawn on
            if (
                part is None
                or part.free < amount
                or time.monotonic() - part.taken_at > self.lease_seconds / 2
            ):
                if part is not None and (done := _retire(self._current, key, part)) is not None:
                    self._settle_slice(done)  # first, so that its slack is not in the way
                self._return_stale()
                got = self._take_slice(budget, scope_value, window, amount, limit)
                if isinstance(got, Refusal):
                    return got
                part = self._current[key] = _Slice(got)
            part.free -= amount
            part.inflight += 1
            token = str(next(self._tokens))
            self._drawn[token] = part
        return Reservation(budget, scope_value, window.label, window.end, amount, token)

    def _return_stale(self) -> None:
        """Now and then, return idle slices of ended periods or past half their lease (a user who called
        once must not hold a slice of their quota, nor this process remember it, until the process exits)."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_INTERVAL_S
        wall = time.time()
        for key, part in list(self._current.items()):
            stale = part.held.resets_at <= wall or now - part.taken_at > self.lease_seconds / 2
            if stale and (done := _retire(self._current, key, part)) is not None:
                self._settle_slice(done)

    def _take_slice(
        self, budget: str, scope_value: str, window: PeriodWindow, amount: float, limit: float
    ) -> Reservation | Refusal:
        """A slice of the shared budget; near the limit, exactly what the call needs."""
        got = self.inner.reserve(budget, scope_value, window, max(amount, limit * self.slice_fraction), limit)
        if isinstance(got, Refusal) and got.amount > amount:
            got = self.inner.reserve(budget, scope_value, window, amount, limit)
        return got

    def _settle_slice(self, part: _Slice) -> float | None:
        held = part.held
        spent = self.inner.settle(held, part.actual)
        if spent is not None:
            self._known[(held.budget, held.scope_value, held.period)] = spent
        return spent

    def settle(self, reservation: Reservation, actual: float) -> float | None:
        """The spend after it as this process knows it: the shared spend at its last slice's settle plus
        what its open slice has spent since (other processes' open slices are not in it)."""
        with self._lock:
            part = self._drawn.pop(reservation.token)
            part.actual += actual
            part.inflight -= 1
            part.free += reservation.amount - actual
            returned = part.retired and part.inflight == 0
        if returned:
            return self._settle_slice(part)
        held = part.held
        return self._known.get((held.budget, held.scope_value, held.period), 0.0) + part.actual

    def add(self, budget: str, scope_value: str, window: PeriodWindow, actual: float) -> float | None:
        return self.inner.add(budget, scope_value, window, actual)

    def status(self) -> list[SpendStatus]:
        return self.inner.status()

    def _seed(self, budget: str, window: PeriodWindow, load: SpendLoader) -> bool:
        return self.inner.seed_once(budget, window, load)

    def close(self) -> None:
        """Return every slice no call is drawing on (their spend counted), then close the shared ledger."""
        _return_slices(self.inner, self._lock, self._current)
