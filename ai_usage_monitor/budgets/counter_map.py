"""The hot half of the host's ledger: counters and live reservations in one memory-mapped file.

Every process of the host that writes to the same records folder maps the same file; an operation is a
few reads and writes of the mapping under ``fcntl.flock`` (between processes) and a ``threading.Lock``
(between the threads of one process, which share one descriptor and so one flock). A counter's slot is
found in the ledger's SQLite directory (``local_ledger``) and carries that directory's id for the
counter, so a slot given to another counter since is noticed (``STALE``).

Layout, in 8-byte words of the host's byte order (read through two typed views of the mapping, int64
and float64, which cost less per field than ``struct``): an 8-word header (magic, file id, reservation
slots, counter slots, live reservations, earliest lease end, lowest maybe-free entry); the reservation
table, 5 words an entry (token, amount, lease end, slot, counter id; token 0 = free); then the counters,
4 words each (counter id, spent, reserved, live reservations). The earliest lease end tells when a
sweep of expired reservations can find any. The file only grows (more counter slots); a process remaps
when it meets a slot past its mapping.
"""

from __future__ import annotations

import math
import mmap
import os
import random
import struct
import threading
import weakref
from fcntl import LOCK_EX, LOCK_UN, flock
from pathlib import Path

__all__ = ["DEFAULT_RESERVATION_SLOTS", "STALE", "Counter", "CounterMap", "LedgerFull", "Refused"]

_MAGIC = b"AIUMCNT1"
_HEADER = struct.Struct("=8sqqqqdqq")
_WORD = 8
_HEADER_WORDS = _HEADER.size // _WORD
# header words
_CAPACITY, _LIVE, _EARLIEST, _HINT = 3, 4, 5, 6
_ENTRY_WORDS = 5
_COUNTER_WORDS = 4
#: a token is a random number with its table entry's index in the low bits
_INDEX_BITS = 20
_INDEX_MASK = (1 << _INDEX_BITS) - 1
#: reservations the table holds at once (calls in flight on the host): 16,384 × 40 bytes
DEFAULT_RESERVATION_SLOTS = 16_384
_INITIAL_COUNTERS = 256
#: returned by an operation whose counter slot now belongs to another counter (look it up again)
STALE = None

Refused = tuple[float, float]
#: a counter's slot in the file and its id in the directory
Counter = tuple[int, int]


class LedgerFull(RuntimeError):
    """Every reservation slot is held by a live reservation: the call is refused rather than unguarded."""

    def __init__(self, message: str, spent: float, reserved: float) -> None:
        super().__init__(message)
        self.spent = spent
        self.reserved = reserved


def _reopen_in_child(ref: weakref.ref[CounterMap]) -> None:
    counters = ref()
    if counters is not None:
        counters._after_fork()


class CounterMap:
    """One mapped counters file; safe to share between threads, reopened in a forked child."""

    def __init__(self, path: Path, *, reservation_slots: int = DEFAULT_RESERVATION_SLOTS) -> None:
        if not 0 < reservation_slots <= _INDEX_MASK + 1:
            raise ValueError(f"reservation_slots must be in 1..{_INDEX_MASK + 1}")
        self.path = path
        self._wanted_slots = reservation_slots
        self._lock = threading.Lock()
        self._fd = -1
        self._mm: mmap.mmap | None = None
        #: the mapping as int64 and as float64 words
        self._q = memoryview(b"").cast("q")
        self._d = memoryview(b"").cast("d")
        self._capacity = 0
        self.reservation_slots = 0
        self.file_id = 0
        self._counters_at = 0
        self._rng = random.Random()
        if hasattr(os, "register_at_fork"):
            alive = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _reopen_in_child(alive))

    # -- opening, locking, growing (cold) --

    def _after_fork(self) -> None:
        """flock is held per open file, which a child shares with its parent: it opens its own."""
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._unmap()

    def _open(self) -> None:
        """Map the file, creating it (under its flock) when it does not exist yet."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            flock(fd, LOCK_EX)
            try:
                if os.fstat(fd).st_size < _HEADER.size:
                    slots = self._wanted_slots
                    os.ftruncate(fd, self._size(slots, _INITIAL_COUNTERS))
                    file_id = self._rng.getrandbits(63) or 1
                    header = _HEADER.pack(_MAGIC, file_id, slots, _INITIAL_COUNTERS, 0, math.inf, 0, 0)
                    os.pwrite(fd, header, 0)
                magic, file_id, slots, capacity, *_ = _HEADER.unpack(os.pread(fd, _HEADER.size, 0))
                if magic != _MAGIC:
                    raise ValueError(f"{self.path} is not a budget counters file")
            finally:
                flock(fd, LOCK_UN)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self.file_id, self.reservation_slots = fd, file_id, slots
        self._counters_at = _HEADER_WORDS + slots * _ENTRY_WORDS
        self._map(capacity)

    def _size(self, slots: int, capacity: int) -> int:
        return (_HEADER_WORDS + slots * _ENTRY_WORDS + capacity * _COUNTER_WORDS) * _WORD

    def _map(self, capacity: int) -> None:
        """(Re)map the file's first ``capacity`` counters."""
        self._q.release()
        self._d.release()
        if self._mm is not None:
            self._mm.close()
        self._mm = mmap.mmap(self._fd, self._size(self.reservation_slots, capacity))
        whole = memoryview(self._mm)
        self._q, self._d = whole.cast("q"), whole.cast("d")
        whole.release()
        self._capacity = capacity

    def _unmap(self) -> None:
        self._q.release()
        self._d.release()
        if self._mm is not None:
            self._mm.close()
        if self._fd >= 0:
            os.close(self._fd)
        self._mm, self._fd, self._capacity = None, -1, 0

    def _acquire(self) -> None:
        """Take the thread lock and the file's flock (opening the file on first use)."""
        self._lock.acquire()
        try:
            if self._mm is None:
                self._open()
            flock(self._fd, LOCK_EX)
        except BaseException:
            self._lock.release()
            raise

    def _release(self) -> None:
        try:
            flock(self._fd, LOCK_UN)
        finally:
            self._lock.release()

    def _reach(self, slot: int) -> memoryview:
        """The int64 view, remapped first when another process grew the file past ``slot``."""
        if slot >= self._capacity:
            self._map(self._q[_CAPACITY])
        return self._q

    def close(self) -> None:
        with self._lock:
            self._unmap()

    def identity(self) -> int:
        """The file's random id (a new file, a new id: the directory's slots then mean nothing)."""
        self._acquire()
        self._release()
        return self.file_id

    def assign(self, slot: int, counter_id: int) -> None:
        """Give ``slot`` to a new counter (growing the file when it is past the end), spent 0."""
        self._acquire()
        try:
            capacity = self._q[_CAPACITY]
            if slot >= capacity:
                capacity = max(capacity * 2, slot + 1)
                os.ftruncate(self._fd, self._size(self.reservation_slots, capacity))
                self._q[_CAPACITY] = capacity
            self._reach(slot)
            self._clear(slot, counter_id)
        finally:
            self._release()

    def reset(self) -> None:
        """Forget every counter and reservation (the directory was created anew)."""
        self._acquire()
        try:
            assert self._mm is not None
            self._mm[_HEADER.size :] = bytes(len(self._mm) - _HEADER.size)
            self._q[_LIVE], self._d[_EARLIEST], self._q[_HINT] = 0, math.inf, 0
        finally:
            self._release()

    def free(self, counters: list[Counter], now: float) -> None:
        """Release the slots of dropped counters (after sweeping expired reservations off them)."""
        self._acquire()
        try:
            self._sweep(now)
            for slot, counter_id in counters:
                if self._reach(slot)[self._counters_at + slot * _COUNTER_WORDS] == counter_id:
                    self._clear(slot, 0)
        finally:
            self._release()

    # -- the operations (hot: written out, few calls) --

    def reserve(
        self, counter: Counter, amount: float, limit: float, now: float, expires: float
    ) -> str | Refused | None:
        """Hold ``amount`` on ``counter`` unless spent + reserved + amount > ``limit``: the reservation's
        token, else (spent, reserved); ``STALE`` when the slot is not the counter's. Raises ``LedgerFull``."""
        slot, counter_id = counter
        with self._lock:
            if self._mm is None:
                self._open()
            flock(self._fd, LOCK_EX)
            try:
                q = self._q if slot < self._capacity else self._reach(slot)
                c = self._counters_at + slot * _COUNTER_WORDS
                if q[c] != counter_id:
                    return STALE
                slots = self.reservation_slots
                if now >= self._d[_EARLIEST] or q[_LIVE] >= slots:
                    self._sweep(now)
                    q = self._q
                d = self._d
                spent, reserved = d[c + 1], d[c + 2]
                if spent + reserved + amount > limit:
                    return spent, reserved
                if q[_LIVE] >= slots:
                    raise LedgerFull(
                        f"budget ledger {self.path}: all {slots} reservation slots are held by calls in "
                        "flight; the call is refused",
                        spent,
                        reserved,
                    )
                # the lowest free entry: the table stays packed at its start, in few pages (hot in the cache)
                index = q[_HINT]
                if index >= slots:
                    index = 0
                e = _HEADER_WORDS + index * _ENTRY_WORDS
                while q[e]:
                    index = index + 1 if index + 1 < slots else 0
                    e = _HEADER_WORDS + index * _ENTRY_WORDS
                token = (self._rng.getrandbits(43) | 1) << _INDEX_BITS | index  # never 0 (free)
                q[e], d[e + 1], d[e + 2], q[e + 3], q[e + 4] = token, amount, expires, slot, counter_id
                d[c + 2] = reserved + amount
                q[c + 3] += 1
                q[_LIVE] += 1
                q[_HINT] = index + 1
                d[_EARLIEST] = min(d[_EARLIEST], expires)
            finally:
                flock(self._fd, LOCK_UN)
        return str(token)

    def settle(self, token: str, counter: Counter, actual: float) -> float | None:
        """Release the reservation ``token`` names (unless its lease ended and it was swept: then nothing,
        whatever holds its table entry now) and add ``actual``; the spend after it, or ``STALE``."""
        slot, counter_id = counter
        number = int(token)
        index = number & _INDEX_MASK
        e = _HEADER_WORDS + index * _ENTRY_WORDS
        with self._lock:
            if self._mm is None:
                self._open()
            flock(self._fd, LOCK_EX)
            try:
                q = self._q if slot < self._capacity else self._reach(slot)
                if q[e] != number:  # swept after its lease: what it held was released then
                    return self._add(slot, counter_id, actual)
                q[e] = 0
                q[_LIVE] -= 1
                q[_HINT] = min(q[_HINT], index)
                amount, held_slot, held_counter = self._d[e + 1], q[e + 3], q[e + 4]
                if held_slot != slot or held_counter != counter_id:
                    self._unhold(held_slot, held_counter, amount)
                    return self._add(slot, counter_id, actual)
                c = self._counters_at + slot * _COUNTER_WORDS
                if q[c] != counter_id:
                    return STALE
                d = self._d
                count = q[c + 3] - 1
                q[c + 3] = max(count, 0)
                d[c + 2] = d[c + 2] - amount if count > 0 else 0.0  # exactly 0 once none is left
                spent = d[c + 1] = d[c + 1] + actual
                return spent
            finally:
                flock(self._fd, LOCK_UN)

    def add(self, counter: Counter, actual: float) -> float | None:
        """Add ``actual`` to the counter's spend; the spend after it, or ``STALE``."""
        self._acquire()
        try:
            return self._add(*counter, actual)
        finally:
            self._release()

    def read(self, counters: list[Counter], now: float) -> list[tuple[float, float] | None]:
        """(spent, live reserved) of each (slot, counter id); ``None`` for a slot not the counter's."""
        self._acquire()
        try:
            if now >= self._d[_EARLIEST]:
                self._sweep(now)
            out: list[tuple[float, float] | None] = []
            for slot, counter_id in counters:
                c = self._counters_at + slot * _COUNTER_WORDS
                owned = self._reach(slot)[c] == counter_id
                out.append((self._d[c + 1], self._d[c + 2]) if owned else None)
            return out
        finally:
            self._release()

    # -- helpers, called with the locks held --

    def _clear(self, slot: int, counter_id: int) -> None:
        c = self._counters_at + slot * _COUNTER_WORDS
        self._q[c], self._d[c + 1], self._d[c + 2], self._q[c + 3] = counter_id, 0.0, 0.0, 0

    def _add(self, slot: int, counter_id: int, actual: float) -> float | None:
        c = self._counters_at + slot * _COUNTER_WORDS
        if self._reach(slot)[c] != counter_id:
            return STALE
        spent = self._d[c + 1] = self._d[c + 1] + actual
        return spent

    def _unhold(self, slot: int, counter_id: int, amount: float) -> None:
        """Take a released reservation's amount off its counter (exactly 0 once none is left)."""
        c = self._counters_at + slot * _COUNTER_WORDS
        q = self._reach(slot)
        if q[c] == counter_id:
            count = q[c + 3] - 1
            q[c + 3] = max(count, 0)
            self._d[c + 2] = self._d[c + 2] - amount if count > 0 else 0.0

    def _sweep(self, now: float) -> None:
        """Drop every reservation whose lease ended; recount the live ones and the earliest lease end."""
        q, d, slots = self._q, self._d, self.reservation_slots
        end = _HEADER_WORDS + slots * _ENTRY_WORDS
        tokens = q[_HEADER_WORDS:end:_ENTRY_WORDS].tolist()
        lease_ends = d[_HEADER_WORDS + 2 : end : _ENTRY_WORDS].tolist()
        live, earliest, hint = 0, math.inf, q[_HINT]
        for index, token in enumerate(tokens):
            if not token:
                continue
            if lease_ends[index] > now:
                live += 1
                earliest = min(earliest, lease_ends[index])
                continue
            e = _HEADER_WORDS + index * _ENTRY_WORDS
            q[e] = 0
            self._unhold(q[e + 3], q[e + 4], d[e + 1])
            q, d = self._q, self._d  # remapped if that counter lay past the mapping
            hint = min(hint, index)
        q[_LIVE], d[_EARLIEST], q[_HINT] = live, earliest, hint
