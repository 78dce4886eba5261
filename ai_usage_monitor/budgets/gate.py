"""The locks of the mapped counters file (``counter_map``): a process-wide lock between threads, then the
file's lock between every thread of every process, always taken in that order and released together.

The file's lock is a robust, process-shared pthread mutex in the file's header: taken and released
without a system call when no one else holds it (``flock`` took two per operation), and released by the
kernel, for the next holder to take over, when its holder dies. Each gate maps the header on its own, so
the mutex never moves while held (the counters are remapped as the file grows).

The compiled gate (``_ledger_ops.Gate``, built from ``_ledger_ops.c`` when a C compiler is there) also
runs the hot operations (reserve, settle, add) itself (a ``FastGate``); ``PyGate`` is the same locks in
Python (the mutex through ``ctypes``), for a process built without it: ``counter_map`` then runs every
operation in Python.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import threading
import time
from collections.abc import Callable
from types import EllipsisType
from typing import Any, Protocol, cast

__all__ = ["HEADER_BYTES", "LOCK_OFFSET", "SLOW", "FastGate", "Gate", "PyGate", "compiled_gate"]

#: the file's header: 8 words of counters' bookkeeping, then the mutex (at most 64 bytes)
HEADER_BYTES = 128
LOCK_OFFSET = 64
#: a wait for the file's lock sleeps this long at most before Python looks for a signal to handle
_WAIT_SLICE_S = 0.05

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
    @staticmethod
    def init_lock(fd: int, /) -> None: ...


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


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Pthread:
    """The C library's mutex functions (``ctypes`` releases the GIL while they run)."""

    # PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST and PTHREAD_MUTEX_ERRORCHECK, in glibc and musl alike
    PROCESS_SHARED = 1
    ROBUST = 1
    ERRORCHECK = 2

    def __init__(self) -> None:
        libc = ctypes.CDLL(None)

        def function(name: str, *argtypes: type[Any]) -> Callable[..., int]:
            found = getattr(libc, name)
            found.argtypes, found.restype = list(argtypes), ctypes.c_int
            return cast("Callable[..., int]", found)

        pointer = ctypes.c_void_p
        self.trylock = function("pthread_mutex_trylock", pointer)
        deadline = ctypes.POINTER(_Timespec)
        self.timedlock: Callable[..., int]
        self.clock: Callable[[], float]
        if hasattr(libc, "pthread_mutex_clocklock"):  # glibc 2.30+: slices on the monotonic clock
            clocklock = function("pthread_mutex_clocklock", pointer, ctypes.c_int, deadline)
            self.timedlock = functools.partial(_clocklock_on, clocklock)
            self.clock = time.monotonic
        else:
            self.timedlock = function("pthread_mutex_timedlock", pointer, deadline)
            self.clock = time.time
        self.unlock = function("pthread_mutex_unlock", pointer)
        self.consistent = function("pthread_mutex_consistent", pointer)
        self.init = function("pthread_mutex_init", pointer, pointer)
        self.attr_init = function("pthread_mutexattr_init", pointer)
        self.attr_pshared = function("pthread_mutexattr_setpshared", pointer, ctypes.c_int)
        self.attr_robust = function("pthread_mutexattr_setrobust", pointer, ctypes.c_int)
        self.attr_type = function("pthread_mutexattr_settype", pointer, ctypes.c_int)
        self.attr_destroy = function("pthread_mutexattr_destroy", pointer)

    def took(self, address: int, rc: int) -> int:
        """``rc`` of a lock call, 0 when the mutex is held (a dead holder's state taken over as it is)."""
        if rc == errno.EOWNERDEAD:
            rc = self.consistent(address)
            if rc:
                self.unlock(address)
        return rc

    def lock(self, address: int) -> int:
        """Hold the mutex at ``address``, waiting without the GIL in slices (signal handlers run between):
        0, or the error."""
        rc = self.took(address, self.trylock(address))
        while rc in {errno.EBUSY, errno.ETIMEDOUT}:
            until = self.clock() + _WAIT_SLICE_S
            deadline = _Timespec(int(until), int(until % 1 * 1e9))
            rc = self.took(address, self.timedlock(address, ctypes.byref(deadline)))
        return rc

    def let_go_if_held(self, address: int) -> None:
        """After an exception struck while taking the mutex: release it if this thread holds it (an
        error-checking mutex answers ``EDEADLK`` to its holder), made consistent first (an unlock of an
        owner-dead mutex not made consistent would leave it unusable for good)."""
        rc = self.trylock(address)
        if rc in {0, errno.EDEADLK, errno.EOWNERDEAD}:
            self.consistent(address)  # EINVAL when it is consistent already
            self.unlock(address)

    def make(self, address: int) -> None:
        """A robust, process-shared, error-checking mutex at ``address``."""
        attributes = ctypes.create_string_buffer(64)  # pthread_mutexattr_t is 4 or 8 bytes
        _check(self.attr_init(attributes), "making")
        try:
            _check(self.attr_pshared(attributes, self.PROCESS_SHARED), "making")
            _check(self.attr_robust(attributes, self.ROBUST), "making")
            _check(self.attr_type(attributes, self.ERRORCHECK), "making")
            _check(self.init(address, attributes), "making")
        finally:
            self.attr_destroy(attributes)


def _clocklock_on(clocklock: Callable[..., int], address: int, deadline: Any) -> int:
    """``pthread_mutex_timedlock``'s call, on ``CLOCK_MONOTONIC``."""
    return clocklock(address, time.CLOCK_MONOTONIC, deadline)


def _check(rc: int, doing: str) -> None:
    if rc:
        raise OSError(rc, f"{doing} the budget counters file's lock: {errno.errorcode.get(rc, rc)}")


@functools.cache
def _pthread() -> _Pthread:
    """Loaded once, on a Python gate's first use."""
    return _Pthread()


class _Header:
    """A file's header mapped on its own, and the address of the mutex in it."""

    def __init__(self, fd: int) -> None:
        self.mapping = mmap.mmap(fd, HEADER_BYTES)
        self._anchor: ctypes.c_char | None = ctypes.c_char.from_buffer(self.mapping, LOCK_OFFSET)
        self.mutex = ctypes.addressof(self._anchor)

    def close(self) -> None:
        self._anchor = None  # the mapping cannot close while ctypes points into it
        self.mapping.close()


#: headers of gates dropped while their lock was held: never unmapped (the thread's robust list points there)
_KEPT: list[_Header] = []


class PyGate:
    """The gate without the compiled module: a ``threading.Lock`` and the file's mutex through ``ctypes``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd = -1
        self._header: _Header | None = None
        self._file_locked = False
        self._close_on_leave = False

    def attach(self, mapping: Any, fd: int, slots: int, capacity: int, counters_at: int, /) -> None:
        if fd != self._fd or self._header is None:
            if self._file_locked:
                raise RuntimeError("another file attached while this one's lock is held")
            header = _Header(fd)
            self._forget_header()
            self._header = header
        self._fd = fd

    def __del__(self) -> None:
        if self._file_locked and self._header is not None:
            _KEPT.append(self._header)

    def _forget_header(self) -> None:
        if self._header is not None:
            self._header.close()
        self._header, self._close_on_leave = None, False

    def detach(self, closing: bool, /) -> None:
        if closing:
            self._fd = -1
            if self._file_locked:
                self._close_on_leave = True
            else:
                self._forget_header()

    def enter(self) -> bool:
        """Take the thread lock, then the file's lock when the file is open (``True``)."""
        self._lock.acquire()
        if self._header is None:
            return False
        try:
            self.lock_file()
        except BaseException:
            self._lock.release()
            raise
        return True

    def lock_file(self) -> None:
        header = self._header
        if header is None:
            raise RuntimeError("the counters file is not open")
        pthread = _pthread()
        try:
            _check(pthread.lock(header.mutex), "taking")
            self._file_locked = True
        except BaseException:
            if not self._file_locked:  # a signal's exception may strike between the take and its note
                pthread.let_go_if_held(header.mutex)
            raise

    def leave(self) -> None:
        try:
            if self._file_locked and self._header is not None:
                self._file_locked = False
                _pthread().unlock(self._header.mutex)
                if self._close_on_leave:
                    self._forget_header()
        finally:
            self._lock.release()

    @staticmethod
    def init_lock(fd: int, /) -> None:
        """Make the file's lock in a new file's header (under the file's ``flock``, once)."""
        header = _Header(fd)
        try:
            _pthread().make(header.mutex)
        finally:
            header.close()


def compiled_gate(layout: tuple[int, int, int, int, int]) -> type[FastGate] | None:
    """The compiled gate when it was built for this layout (header, entry and counter words, index bits,
    the lock's word)."""
    try:
        from ai_usage_monitor.budgets import _ledger_ops
    except ImportError:
        return None
    return _ledger_ops.Gate if tuple(_ledger_ops.LAYOUT) == layout else None
