"""The locks of the mapped counters file (``counter_map``): a process-wide lock between threads, then the
file's ``flock`` between processes, always taken in that order and released together.

The compiled gate (``_ledger_ops.Gate``, built from ``_ledger_ops.c`` when a C compiler is there) also
runs the hot operations (reserve, settle, add) itself (a ``FastGate``); ``PyGate`` is the same locks in
Python, for a process built without it: ``counter_map`` then runs every operation in Python.
"""

from __future__ import annotations

import threading
from fcntl import LOCK_EX, LOCK_UN, flock
from types import EllipsisType
from typing import Any, Protocol

__all__ = ["SLOW", "FastGate", "Gate", "PyGate", "compiled_gate"]

#: what a compiled operation answers when ``counter_map`` must do it in Python (a lock was held elsewhere, a
#: sweep is due, a slot lies past the mapping)
SLOW: EllipsisType = ...


class Gate(Protocol):
    """The locks both gates give ``counter_map``."""

    def attach(self, mapping: Any, fd: int, slots: int, capacity: int, counters_at: int, /) -> None: ...
    def detach(self, closing: bool, /) -> None: ...
    def enter(self) -> bool: ...
    def lock_file(self) -> None: ...
    def leave(self) -> None: ...


class FastGate(Gate, Protocol):
    """The compiled gate's operations (positional arguments, as it takes them)."""

    def __init__(self, seed: int) -> None: ...

    def reserve(  # noqa: PLR0917
        self, slot: int, counter_id: int, amount: float, limit: float, now: float, expires: float, /
    ) -> int | tuple[float, float] | EllipsisType | None: ...
    def settle(
        self, token: int, slot: int, counter_id: int, actual: float, /
    ) -> float | EllipsisType | None: ...
    def add(self, slot: int, counter_id: int, actual: float, /) -> float | EllipsisType | None: ...
    def apply(self) -> bool: ...
    def clear(self, entry: int, token: int, /) -> bool: ...


class PyGate:
    """The gate without the compiled module: a ``threading.Lock`` and ``fcntl.flock``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd = -1
        self._file_locked = False

    def attach(self, mapping: Any, fd: int, slots: int, capacity: int, counters_at: int, /) -> None:
        if fd != self._fd:
            self._file_locked = False
        self._fd = fd

    def detach(self, closing: bool, /) -> None:
        if closing:
            self._fd, self._file_locked = -1, False

    def enter(self) -> bool:
        """Take the thread lock, then the file's flock when the file is open (``True``)."""
        self._lock.acquire()
        if self._fd < 0:
            return False
        try:
            flock(self._fd, LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        self._file_locked = True
        return True

    def lock_file(self) -> None:
        flock(self._fd, LOCK_EX)
        self._file_locked = True

    def leave(self) -> None:
        try:
            if self._file_locked:
                self._file_locked = False
                flock(self._fd, LOCK_UN)
        finally:
            self._lock.release()


def compiled_gate(layout: tuple[int, int, int, int]) -> type[FastGate] | None:
    """The compiled gate when it was built for this layout (header, entry and counter words, index bits)."""
    try:
        from ai_usage_monitor.budgets import _ledger_ops
    except ImportError:
        return None
    return _ledger_ops.Gate if tuple(_ledger_ops.LAYOUT) == layout else None
