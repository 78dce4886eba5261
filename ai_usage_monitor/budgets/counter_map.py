"""The hot half of the host's ledger: counters and live reservations in one memory-mapped file.

Every process of the host that writes to the same records folder maps the same file; an operation is a
few reads and writes of the mapping under ``fcntl.flock`` (between processes) and a ``threading.Lock``
(between the threads of one process, which share one descriptor and so one flock). A counter's slot is
found in the ledger's SQLite directory (``local_ledger``) and carries that directory's id for the
counter, so a slot given to another counter since is noticed (``STALE``).

Layout (little-endian): a 64-byte header; the reservation table (``token, amount, expires, slot,
counter id`` per entry, token 0 = free); then the counter slots (``counter id, spent, reserved, live
reservations``). The header keeps the earliest lease end, so expired reservations are swept only when
one can have expired. The file only grows (more counter slots); a process remaps when it meets a slot
past its mapping.
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
#: magic, file id, reservation slots, counter slots, live reservations, earliest lease end, and the
#: lowest entry that may be free
_HEADER = struct.Struct("<8sQqqqdq8x")
#: live reservations, earliest lease end, lowest maybe-free entry: the header's moving part, at offset 32
_MOVING = struct.Struct("<qdq")
_MOVING_AT = 32
_CAPACITY_AT = 24
_ENTRY = struct.Struct("<Qddqq")
_COUNTER = struct.Struct("<qddq")
_TOKEN = struct.Struct("<Q")
_INT = struct.Struct("<q")
_HEADER_SIZE, _ENTRY_SIZE, _COUNTER_SIZE = _HEADER.size, _ENTRY.size, _COUNTER.size
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
        mm, fd = self._mm, self._fd
        self._mm, self._fd = None, -1
        if mm is not None:
            mm.close()
        if fd >= 0:
            os.close(fd)

    def _open(self) -> mmap.mmap:
        """Map the file, creating it (under its flock) when it does not exist yet."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            flock(fd, LOCK_EX)
            try:
                if os.fstat(fd).st_size < _HEADER.size:
                    slots = self._wanted_slots
                    os.ftruncate(fd, self._size(slots, _INITIAL_COUNTERS))
                    header = _HEADER.pack(
                        _MAGIC, self._rng.getrandbits(63) or 1, slots, _INITIAL_COUNTERS, 0, math.inf, 0
                    )
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
        self._counters_at = _HEADER.size + slots * _ENTRY.size
        self._map(capacity)
        assert self._mm is not None
        return self._mm

    def _size(self, slots: int, capacity: int) -> int:
        return _HEADER.size + slots * _ENTRY.size + capacity * _COUNTER.size

    def _map(self, capacity: int) -> None:
        if self._mm is not None:
            self._mm.close()
        self._mm = mmap.mmap(self._fd, self._size(self.reservation_slots, capacity))
        self._capacity = capacity

    def _acquire(self) -> mmap.mmap:
        """Take the thread lock and the file's flock; the mapping (opened on first use)."""
        self._lock.acquire()
        try:
            mm = self._mm or self._open()
            flock(self._fd, LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        return mm

    def _release(self) -> None:
        try:
            flock(self._fd, LOCK_UN)
        finally:
            self._lock.release()

    def _reach(self, mm: mmap.mmap, slot: int) -> mmap.mmap:
        """The mapping, remapped when another process grew the file past ``slot``'s end."""
        if slot < self._capacity:
            return mm
        self._map(_INT.unpack_from(mm, _CAPACITY_AT)[0])
        assert self._mm is not None
        return self._mm

    def close(self) -> None:
        with self._lock:
            if self._mm is not None:
                self._mm.close()
            if self._fd >= 0:
                os.close(self._fd)
            self._mm, self._fd = None, -1

    def identity(self) -> int:
        """The file's random id (a new file, a new id: the directory's slots then mean nothing)."""
        self._acquire()
        self._release()
        return self.file_id

    def assign(self, slot: int, counter_id: int) -> None:
        """Give ``slot`` to a new counter (growing the file when it is past the end), spent 0."""
        mm = self._acquire()
        try:
            capacity = _INT.unpack_from(mm, _CAPACITY_AT)[0]
            if slot >= capacity:
                capacity = max(capacity * 2, slot + 1)
                os.ftruncate(self._fd, self._size(self.reservation_slots, capacity))
                _INT.pack_into(mm, _CAPACITY_AT, capacity)
            mm = self._reach(mm, slot)
            _COUNTER.pack_into(mm, self._counters_at + slot * _COUNTER.size, counter_id, 0.0, 0.0, 0)
        finally:
            self._release()

    def reset(self) -> None:
        """Forget every counter and reservation (the directory was created anew)."""
        mm = self._acquire()
        try:
            mm[_HEADER.size :] = bytes(len(mm) - _HEADER.size)
            _MOVING.pack_into(mm, _MOVING_AT, 0, math.inf, 0)
        finally:
            self._release()

    def free(self, slots: list[tuple[int, int]], now: float) -> None:
        """Release the slots of dropped counters (after sweeping expired reservations off them)."""
        mm = self._acquire()
        try:
            mm = self._sweep(mm, now)
            for slot, counter_id in slots:
                mm = self._reach(mm, slot)
                at = self._counters_at + slot * _COUNTER.size
                if _INT.unpack_from(mm, at)[0] == counter_id:
                    _COUNTER.pack_into(mm, at, 0, 0.0, 0.0, 0)
        finally:
            self._release()

    # -- the operations (hot) --

    def reserve(
        self, counter: Counter, amount: float, limit: float, now: float, expires: float
    ) -> str | Refused | None:
        """Hold ``amount`` on ``counter`` (slot, counter id) unless spent + reserved + amount > ``limit``:
        the reservation's token, else (spent, reserved); ``STALE`` when the slot is not the counter's.
        Raises ``LedgerFull``."""
        slot, counter_id = counter
        with self._lock:  # written out rather than in helpers: this runs on every guarded call
            mm = self._mm or self._open()
            flock(self._fd, LOCK_EX)
            try:
                if slot >= self._capacity:
                    mm = self._reach(mm, slot)
                at = self._counters_at + slot * _COUNTER_SIZE
                owner, spent, reserved, count = _COUNTER.unpack_from(mm, at)
                if owner != counter_id:
                    return STALE
                live, earliest, hint = _MOVING.unpack_from(mm, _MOVING_AT)
                slots = self.reservation_slots
                if now >= earliest or live >= slots:
                    mm = self._sweep(mm, now)
                    owner, spent, reserved, count = _COUNTER.unpack_from(mm, at)
                    live, earliest, hint = _MOVING.unpack_from(mm, _MOVING_AT)
                if spent + reserved + amount > limit:
                    return spent, reserved
                if live >= slots:
                    raise LedgerFull(
                        f"budget ledger {self.path}: all {slots} reservation slots are held by calls in "
                        "flight; the call is refused",
                        spent,
                        reserved,
                    )
                # the lowest free entry: the table stays packed at its start, in few pages (hot in the cache)
                index = hint if hint < slots else 0
                entry = _HEADER_SIZE + index * _ENTRY_SIZE
                while _TOKEN.unpack_from(mm, entry)[0]:
                    index = index + 1 if index + 1 < slots else 0
                    entry = _HEADER_SIZE + index * _ENTRY_SIZE
                token = (self._rng.getrandbits(43) | 1) << _INDEX_BITS | index  # never 0 (free)
                _ENTRY.pack_into(mm, entry, token, amount, expires, slot, counter_id)
                _COUNTER.pack_into(mm, at, owner, spent, reserved + amount, count + 1)
                _MOVING.pack_into(mm, _MOVING_AT, live + 1, min(earliest, expires), index + 1)
            finally:
                flock(self._fd, LOCK_UN)
        return str(token)

    def settle(self, token: str, counter: Counter, actual: float) -> float | None:
        """Release the reservation ``token`` names (unless its lease ended and it was swept: then nothing,
        whatever holds its table entry now) and add ``actual``; the spend after it, or ``STALE``."""
        slot, counter_id = counter
        number = int(token)
        index = number & _INDEX_MASK
        entry = _HEADER_SIZE + index * _ENTRY_SIZE
        with self._lock:
            mm = self._mm or self._open()
            flock(self._fd, LOCK_EX)
            try:
                held, amount, _, held_slot, held_counter = _ENTRY.unpack_from(mm, entry)
                if held != number:  # swept after its lease: what it held was released then
                    return self._add(mm, slot, counter_id, actual)
                _TOKEN.pack_into(mm, entry, 0)
                live, earliest, hint = _MOVING.unpack_from(mm, _MOVING_AT)
                _MOVING.pack_into(mm, _MOVING_AT, live - 1, earliest, min(hint, index))
                if held_slot != slot or held_counter != counter_id:
                    mm = self._reach(mm, max(slot, held_slot))
                    self._unhold(mm, amount, held_slot, held_counter)
                    return self._add(mm, slot, counter_id, actual)
                if slot >= self._capacity:
                    mm = self._reach(mm, slot)
                at = self._counters_at + slot * _COUNTER_SIZE
                owner, spent, reserved, count = _COUNTER.unpack_from(mm, at)
                if owner != counter_id:
                    return STALE
                spent += actual
                count -= 1
                _COUNTER.pack_into(
                    mm, at, owner, spent, reserved - amount if count > 0 else 0.0, max(count, 0)
                )
                return spent
            finally:
                flock(self._fd, LOCK_UN)

    def add(self, counter: Counter, actual: float) -> float | None:
        """Add ``actual`` to the counter's spend; the spend after it, or ``STALE``."""
        mm = self._acquire()
        try:
            return self._add(mm, *counter, actual)
        finally:
            self._release()

    def read(self, counters: list[tuple[int, int]], now: float) -> list[tuple[float, float] | None]:
        """(spent, live reserved) of each (slot, counter id); ``None`` for a slot not the counter's."""
        mm = self._acquire()
        try:
            if now >= _MOVING.unpack_from(mm, _MOVING_AT)[1]:
                mm = self._sweep(mm, now)
            out: list[tuple[float, float] | None] = []
            for slot, counter_id in counters:
                mm = self._reach(mm, slot)
                owner, spent, reserved, _ = _COUNTER.unpack_from(mm, self._counters_at + slot * _COUNTER.size)
                out.append((spent, reserved) if owner == counter_id else None)
            return out
        finally:
            self._release()

    # -- helpers, called with the locks held --

    def _add(self, mm: mmap.mmap, slot: int, counter_id: int, actual: float) -> float | None:
        mm = self._reach(mm, slot)
        at = self._counters_at + slot * _COUNTER.size
        owner, spent, reserved, count = _COUNTER.unpack_from(mm, at)
        if owner != counter_id:
            return STALE
        spent += actual
        _COUNTER.pack_into(mm, at, owner, spent, reserved, count)
        return spent

    def _unhold(self, mm: mmap.mmap, amount: float, slot: int, counter_id: int) -> None:
        """Take a released reservation's amount off its counter (exactly 0 once none is left); the
        mapping must reach ``slot``."""
        at = self._counters_at + slot * _COUNTER_SIZE
        owner, spent, reserved, count = _COUNTER.unpack_from(mm, at)
        if owner == counter_id:
            count -= 1
            _COUNTER.pack_into(mm, at, owner, spent, reserved - amount if count > 0 else 0.0, max(count, 0))

    def _sweep(self, mm: mmap.mmap, now: float) -> mmap.mmap:
        """Drop every reservation whose lease ended; recount the live ones and the earliest lease end.
        Returns the mapping (remapped when an expired reservation's slot lay past it)."""
        table = mm[_HEADER.size : self._counters_at]
        live, earliest = 0, math.inf
        expired: list[tuple[int, float, int, int]] = []
        for index, (token, amount, expires, slot, counter_id) in enumerate(_ENTRY.iter_unpack(table)):
            if not token:
                continue
            if expires <= now:
                expired.append((_HEADER.size + index * _ENTRY.size, amount, slot, counter_id))
            else:
                live += 1
                earliest = min(earliest, expires)
        hint = _MOVING.unpack_from(mm, _MOVING_AT)[2]
        if expired:
            mm = self._reach(mm, max(slot for _, _, slot, _ in expired))
            for entry, amount, slot, counter_id in expired:
                _TOKEN.pack_into(mm, entry, 0)
                self._unhold(mm, amount, slot, counter_id)
            hint = min(hint, (expired[0][0] - _HEADER.size) // _ENTRY.size)
        _MOVING.pack_into(mm, _MOVING_AT, live, earliest, hint)
        return mm
