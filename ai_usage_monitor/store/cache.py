"""Aggregates kept per ingest batch: computed once, then folded forward with only the batches ingested since,
so a repeated question costs what the new rows cost rather than what the whole range costs. Those asked for
again and again are folded forward after the ingests shortly before their next ask is due, so the asker
finds them current while the work stays near one fold per ask. Also: grouped partial aggregates and how two
of them merge."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

__all__ = [
    "HOT_SECONDS",
    "LEAD_SECONDS",
    "RECOMPUTE_SECONDS",
    "Combine",
    "Fold",
    "FoldCache",
    "Groups",
    "greatest",
    "least",
    "merge",
    "plus",
]

log = logging.getLogger(__name__)

#: An aggregate asked for within this many seconds is folded forward after an ingest (the dashboard page
#: refreshes every 5 s, 30 s when hidden; Prometheus scrapes every 15 s) ...
HOT_SECONDS = 60.0
#: ... once its next ask is due within this many seconds, judging by the time between its last two asks.
LEAD_SECONDS = 1.0
#: An aggregate whose fold recomputes it whole (percentiles) is redone after an ingest only if that took at
#: most this long, so the work an ingest triggers stays small; a costlier one waits for its next asker.
RECOMPUTE_SECONDS = 0.050

T = TypeVar("T")

#: ``fold(after_batch, upto_batch, previous)``: the aggregate over batches ``<= upto_batch``, given
#: ``previous`` over batches ``<= after_batch`` (``None`` the first time, with ``after_batch`` 0).
Fold = Callable[[int, int, T | None], T]
#: Merges two partial aggregates of one column, NULL-aware as SQL's are (NULL: no rows).
Combine = Callable[[Any, Any], Any]


@dataclass(slots=True)
class _Entry:
    generation: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    upto: int = -1
    value: Any = None
    fold: Fold[Any] | None = None
    #: ``time.monotonic()`` of the last ``get``, and seconds since the one before (``None``: asked once)
    asked_at: float = 0.0
    every: float | None = None
    recomputes: bool = False
    #: seconds the last fold took
    cost: float = 0.0

    def asked(self, fold: Fold[Any], recomputes: bool) -> None:
        now = time.monotonic()
        self.every = now - self.asked_at if self.fold is not None else None
        self.fold, self.asked_at, self.recomputes = fold, now, recomputes

    def due(self, upto: int, now: float, max_age: float) -> bool:
        """Worth folding forward to ``upto`` now, after an ingest."""
        if self.fold is None or not 0 <= self.upto < upto or self.asked_at < now - max_age:
            return False
        if self.recomputes and self.cost > RECOMPUTE_SECONDS:
            return False
        return self.every is None or now >= self.asked_at + self.every - LEAD_SECONDS


class FoldCache:
    """Aggregates by key, each valid up to a batch number. Kept entries (all-time aggregates, few) stay until
    ``reset()``; the others (one per query and time range) are evicted least recently used first.

    Thread-safe: one lock per entry, so a slow first computation holds up only the askers of that key.
    """

    def __init__(self, committed: int, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._generation = 0
        self._committed = committed
        self._kept: dict[Hashable, _Entry] = {}
        self._recent: OrderedDict[Hashable, _Entry] = OrderedDict()

    @property
    def committed(self) -> int:
        """The newest batch whose rows are visible to queries."""
        return self._committed

    def advance(self, batch: int) -> None:
        """Batch ``batch`` has been committed (call after the commit, so askers of it can see its rows)."""
        with self._lock:
            self._committed = max(self._committed, batch)

    def reset(self, committed: int) -> None:
        """Rows were deleted or batches renumbered: forget every aggregate."""
        with self._lock:
            self._generation += 1
            self._committed = committed
            self._kept.clear()
            self._recent.clear()

    def __len__(self) -> int:
        return len(self._kept) + len(self._recent)

    def get(self, key: Hashable, fold: Fold[T], *, keep: bool, recomputes: bool = False) -> T:
        """The aggregate ``key`` up to the committed batch, folding in what was committed since last time.

        ``recomputes``: ``fold`` ignores ``previous`` and computes the whole aggregate again.
        """
        with self._lock:
            upto = self._committed
            table = self._kept if keep else self._recent
            entry = table.get(key)
            if entry is None or entry.generation != self._generation:
                entry = table[key] = _Entry(self._generation)
            entry.asked(fold, recomputes)
            if not keep:
                self._recent.move_to_end(key)
                while len(self._recent) > self.max_entries:
                    self._recent.popitem(last=False)
        return cast(T, self._fold(entry, fold, upto))

    def catch_up(self, max_age: float = HOT_SECONDS) -> int:
        """Fold forward the aggregates asked for within ``max_age`` seconds whose next ask is near (see
        ``LEAD_SECONDS``, ``RECOMPUTE_SECONDS``); returns how many. Run after an ingest; a failure is left for
        the next asker to meet."""
        with self._lock:
            upto, now = self._committed, time.monotonic()
            due = [e for e in (*self._kept.values(), *self._recent.values()) if e.due(upto, now, max_age)]
        for entry in due:
            assert entry.fold is not None
            try:
                self._fold(entry, entry.fold, upto)
            except Exception:
                log.debug("folding a cached aggregate forward failed", exc_info=True)
        return len(due)

    @staticmethod
    def _fold(entry: _Entry, fold: Fold[Any], upto: int) -> Any:
        with entry.lock:
            if entry.upto >= upto:  # another asker already folded this far (or further)
                return entry.value
            started = time.perf_counter()
            entry.value = fold(0, upto, None) if entry.upto < 0 else fold(entry.upto, upto, entry.value)
            entry.cost = time.perf_counter() - started
            entry.upto = upto
            return entry.value


class Groups(dict[tuple[Any, ...], list[Any]]):
    """Group key → values, as ``merge`` builds them. Never changed once built (a fold builds a new one), so
    its ranking is worked out once however often it is asked for."""

    __slots__ = ("_ranked",)

    def __init__(self, groups: dict[tuple[Any, ...], list[Any]] | None = None) -> None:
        super().__init__(groups or {})
        self._ranked: list[tuple[Any, ...]] | None = None

    def ranked(self, key: Callable[[tuple[Any, ...]], Any]) -> list[tuple[Any, ...]]:
        """Rows ``(*group key, *values)`` sorted by ``key`` (always the same ``key`` for one grouping)."""
        if self._ranked is None:
            self._ranked = sorted(((*k, *v) for k, v in self.items()), key=key)
        return self._ranked


def plus(a: Any, b: Any) -> Any:
    """``sum`` of two partial sums (``least``, ``greatest``: ``min``, ``max``), NULL-aware."""
    return b if a is None else a if b is None else a + b


def least(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def greatest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def merge(previous: Groups | None, rows: Sequence[tuple[Any, ...]], combine: Sequence[Combine]) -> Groups:
    """``previous`` with ``rows`` added: a row's last ``len(combine)`` columns are its values, each merged
    into its group's by ``combine``; the columns before them are the group key."""
    width = len(combine)
    acc = Groups(previous)
    for row in rows:
        key, values = row[:-width], row[-width:]
        old = acc.get(key)
        acc[key] = (
            list(values) if old is None else [f(a, b) for f, a, b in zip(combine, old, values, strict=True)]
        )
    return acc
