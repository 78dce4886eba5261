"""Aggregates kept per ingest batch: computed once, then folded forward with only the batches ingested since,
so a repeated question costs what the new rows cost rather than what the whole range costs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

__all__ = ["Fold", "FoldCache"]

T = TypeVar("T")

#: ``fold(after_batch, upto_batch, previous)``: the aggregate over batches ``<= upto_batch``, given
#: ``previous`` over batches ``<= after_batch`` (``None`` the first time, with ``after_batch`` 0).
Fold = Callable[[int, int, T | None], T]


@dataclass(slots=True)
class _Entry:
    generation: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    upto: int = -1
    value: Any = None


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

    def get(self, key: Hashable, fold: Fold[T], *, keep: bool) -> T:
        """The aggregate ``key`` up to the committed batch, folding in what was committed since last time."""
        with self._lock:
            upto = self._committed
            table = self._kept if keep else self._recent
            entry = table.get(key)
            if entry is None or entry.generation != self._generation:
                entry = table[key] = _Entry(self._generation)
            if not keep:
                self._recent.move_to_end(key)
                while len(self._recent) > self.max_entries:
                    self._recent.popitem(last=False)
        with entry.lock:
            if entry.upto >= upto:  # another asker already folded this far (or further)
                return cast(T, entry.value)
            if entry.upto < 0:
                entry.value = fold(0, upto, None)
            else:
                entry.value = fold(entry.upto, upto, entry.value)
            entry.upto = upto
            return cast(T, entry.value)
