"""The hot half of the host's ledger: counters and live reservations in one memory-mapped file.

Every process of the host that writes to the same records folder maps the same file; an operation is a
few reads and writes of the mapping under a process-wide lock and the file's own lock (a robust mutex in
its header, between every thread of every process): the ``gate``. The hot
operations (reserve, settle, add) run in C when ``_ledger_ops`` was compiled, in Python otherwise, and
in Python whenever the C path meets a case it leaves to Python (a sweep, a remap, a lock held). A
counter's slot is found in the ledger's SQLite directory (``local_ledger``) and carries that directory's
id for the counter, so a slot given to another counter since is noticed (``STALE``).

Layout, in 8-byte words of the host's byte order (read through two typed views of the mapping, int64
and float64, which cost less per field than ``struct``): a 16-word header (magic, file id, reservation
slots, counter slots, live reservations, earliest lease end, lowest maybe-free entry, entries in use up
to; then the file's lock); the reservation table, 5 words an entry (token, amount, lease end, slot,
counter id; token 0 = free); then the counters, 4 words each (counter id, spent, reserved, live
reservations). The earliest lease end tells when a sweep of expired reservations can find any. The file
only grows (more counter slots); a process remaps when it meets a slot past its mapping.

Settles published without the lock: the compiled gate settles a reservation far from its lease end by one
compare-and-swap of its token to the bitwise NOT of the cost's bits (negative: costs are never below 0);
every locked operation, of any process, first folds such entries into their counters
(``_apply_settled``), so every decision and every status read sees them.
"""

from __future__ import annotations

import math
import mmap
import os
import random
import struct
import weakref
from fcntl import LOCK_EX, LOCK_UN, flock
from pathlib import Path

from ai_usage_monitor.budgets.gate import (
    HEADER_BYTES,
    LOCK_OFFSET,
    SLOW,
    FastGate,
    Gate,
    PyGate,
    compiled_gate,
)

__all__ = [
    "COMPILED_GATE",
    "DEFAULT_RESERVATION_SLOTS",
    "STALE",
    "Counter",
    "CounterMap",
    "LedgerFull",
    "Refused",
]

_MAGIC = b"AIUMCNT3"
#: older layouts (before settles were published in the table; before the file's lock was in its header):
#: their processes would not see this one's settles or locks, so such a file is moved aside (to the
#: suffix) and a new one made (the periods are seeded again)
_OLD_MAGICS = {b"AIUMCNT1": ".v1", b"AIUMCNT2": ".v2"}
#: the header's first 8 words; the lock fills the rest of its 16
_HEADER = struct.Struct("=8sqqqqdqq")
_WORD = 8
_HEADER_WORDS = HEADER_BYTES // _WORD
# header words
_CAPACITY, _LIVE, _EARLIEST, _HINT, _TOP = 3, 4, 5, 6, 7
_ENTRY_WORDS = 5
_COUNTER_WORDS = 4
#: a token is a random number with its table entry's index in the low bits
_INDEX_BITS = 20
_INDEX_MASK = (1 << _INDEX_BITS) - 1
#: reservations the table holds at once (calls in flight on the host): 16,384 × 40 bytes
DEFAULT_RESERVATION_SLOTS = 16_384
_INITIAL_COUNTERS = 256
_BITS = struct.Struct("=q")
_FLOAT = struct.Struct("=d")
#: the compiled gate, when it was built for this layout (``None``: every operation in Python)
COMPILED_GATE = compiled_gate(
    (_HEADER_WORDS, _ENTRY_WORDS, _COUNTER_WORDS, _INDEX_BITS, LOCK_OFFSET // _WORD)
)
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

    def __init__(
        self,
        path: Path,
        *,
        reservation_slots: int = DEFAULT_RESERVATION_SLOTS,
    ) -> None:
        if not 0 < reservation_slots <= _INDEX_MASK + 1:
            raise ValueError(f"reservation_slots must be in 1..{_INDEX_MASK + 1}")
        self.path = path
        self._wanted_slots = reservation_slots
        self._compiled: type[FastGate] | None = COMPILED_GATE
        self._rng = random.Random()
        self.gate: Gate
        #: the gate again when it is the compiled one: its operations are tried first
        self.fast: FastGate | None
        self._new_gate()
        self._fd = -1
        self._mm: mmap.mmap | None = None
        #: the mapping as int64 and as float64 words
        self._q = memoryview(b"").cast("q")
        self._d = memoryview(b"").cast("d")
        self._capacity = 0
        self.reservation_slots = 0
        self.file_id = 0
        self._counters_at = 0
        if hasattr(os, "register_at_fork"):
            alive = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _reopen_in_child(alive))

    # -- opening, locking, growing (cold) --

    def _after_fork(self) -> None:
        """A child opens the file anew, with a gate of its own (a thread of the parent may have held the old
        gate's locks; a hold of the file's lock by the parent stays the parent's: the child waits for it)."""
        self.gate.detach(True)
        self._rng = random.Random()
        self._new_gate()
        self._unmap()

    def _new_gate(self) -> None:
        """The compiled gate when there is one (seeded for its tokens), else the Python one."""
        compiled = self._compiled
        fast = self.fast = compiled(self._rng.getrandbits(64)) if compiled is not None else None
        self.gate = fast if fast is not None else PyGate()

    def _open(self) -> None:
        """Map the file, creating it (under its flock) when it does not exist yet."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                flock(fd, LOCK_EX)
                try:
                    if os.fstat(fd).st_size < HEADER_BYTES or os.pread(fd, 8, 0) == bytes(8):
                        self._create(fd)
                    magic, file_id, slots, capacity, *_ = _HEADER.unpack(os.pread(fd, _HEADER.size, 0))
                    old = _OLD_MAGICS.get(magic)
                    if old is not None:  # unless another process moved it aside already
                        if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                            os.replace(self.path, self.path.with_name(self.path.name + old))
                    elif magic != _MAGIC:
                        raise ValueError(f"{self.path} is not a budget counters file")
                finally:
                    flock(fd, LOCK_UN)
            except BaseException:
                os.close(fd)
                raise
            if magic == _MAGIC:
                break
            os.close(fd)
        self._fd, self.file_id, self.reservation_slots = fd, file_id, slots
        self._counters_at = _HEADER_WORDS + slots * _ENTRY_WORDS
        self._map(capacity)

    def _create(self, fd: int) -> None:
        """Lay a new file out (under its flock): sized, the lock made, the header written last (a file
        left without its magic by a process killed meanwhile is made again)."""
        slots = self._wanted_slots
        os.ftruncate(fd, self._size(slots, _INITIAL_COUNTERS))
        self.gate.init_lock(fd)
        file_id = self._rng.getrandbits(63) or 1
        os.pwrite(fd, _HEADER.pack(_MAGIC, file_id, slots, _INITIAL_COUNTERS, 0, math.inf, 0, 0), 0)

    def _size(self, slots: int, capacity: int) -> int:
        return (_HEADER_WORDS + slots * _ENTRY_WORDS + capacity * _COUNTER_WORDS) * _WORD

    def _map(self, capacity: int) -> None:
        """(Re)map the file's first ``capacity`` counters."""
        self.gate.detach(False)
        self._q.release()
        self._d.release()
        if self._mm is not None:
            self._mm.close()
        self._mm = mmap.mmap(self._fd, self._size(self.reservation_slots, capacity))
        whole = memoryview(self._mm)
        self._q, self._d = whole.cast("q"), whole.cast("d")
        whole.release()
        self._capacity = capacity
        self.gate.attach(self._mm, self._fd, self.reservation_slots, capacity, self._counters_at)

    def _unmap(self) -> None:
        self.gate.detach(True)
        self._q.release()
        self._d.release()
        if self._mm is not None:
            self._mm.close()
        if self._fd >= 0:
            os.close(self._fd)
        self._mm, self._fd, self._capacity = None, -1, 0

    def _acquire(self) -> None:
        """Take the process's lock and the file's lock (opening the file on first use)."""
        gate = self.gate
        if gate.enter():
            return
        try:
            self._open()
            gate.lock_file()
        except BaseException:
            gate.leave()
            raise

    def _release(self) -> None:
        self.gate.leave()

    def _reach(self, slot: int) -> memoryview:
        """The int64 view, remapped first when another process grew the file past ``slot``."""
        if slot >= self._capacity:
            self._map(self._q[_CAPACITY])
        return self._q

    def close(self) -> None:
        gate = self.gate
        gate.enter()
        try:
            self._unmap()
        finally:
            gate.leave()

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
            self._mm[HEADER_BYTES:] = bytes(len(self._mm) - HEADER_BYTES)  # the lock is left as it is
            self._q[_LIVE], self._d[_EARLIEST], self._q[_HINT], self._q[_TOP] = 0, math.inf, 0, 0
        finally:
            self._release()

    def free(self, counters: list[Counter], now: float) -> None:
        """Release the slots of dropped counters (after sweeping expired reservations off them)."""
        self._acquire()
        try:
            self._apply_settled()
            self._sweep(now)
            for slot, counter_id in counters:
                if self._reach(slot)[self._counters_at + slot * _COUNTER_WORDS] == counter_id:
                    self._clear(slot, 0)
        finally:
            self._release()

    # -- the operations (hot: written out, few calls) --

    def reserve(
        self, counter: Counter, amount: float, limit: float, now: float, expires: float
    ) -> int | Refused | None:
        """Hold ``amount`` on ``counter`` unless spent + reserved + amount > ``limit``: the reservation's
        token, else (spent, reserved); ``STALE`` when the slot is not the counter's. Raises ``LedgerFull``."""
        fast = self.fast
        if fast is not None:
            got = fast.reserve(counter[0], counter[1], amount, limit, now, expires)
            if got is not SLOW:
                return got
        return self._reserve_locked(counter, amount, limit, now, expires)

    def _reserve_locked(
        self, counter: Counter, amount: float, limit: float, now: float, expires: float
    ) -> int | Refused | None:
        """``reserve`` in Python."""
        slot, counter_id = counter
        self._acquire()
        try:
            q = self._q if slot < self._capacity else self._reach(slot)
            c = self._counters_at + slot * _COUNTER_WORDS
            if q[c] != counter_id:
                return STALE
            self._apply_settled()
            q = self._q
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
            q[_TOP] = max(q[_TOP], index + 1)
            d[_EARLIEST] = min(d[_EARLIEST], expires)
        finally:
            self._release()
        return token

    def settle(self, token: int, counter: Counter, actual: float) -> float | None:
        """Release the reservation ``token`` names (unless its lease ended and it was swept: then nothing,
        whatever holds its table entry now) and add ``actual``; the spend after it, or ``STALE``."""
        fast = self.fast
        if fast is not None:
            got = fast.settle(token, counter[0], counter[1], actual)
            if got is not SLOW:
                return got
        return self._settle_locked(token, counter, actual)

    def _settle_locked(self, token: int, counter: Counter, actual: float) -> float | None:
        """``settle`` in Python."""
        slot, counter_id = counter
        index = token & _INDEX_MASK
        e = _HEADER_WORDS + index * _ENTRY_WORDS
        self._acquire()
        try:
            self._apply_settled()
            q = self._q if slot < self._capacity else self._reach(slot)
            if q[e] != token:  # swept after its lease: what it held was released then
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
            self._release()

    def add(self, counter: Counter, actual: float) -> float | None:
        """Add ``actual`` to the counter's spend; the spend after it, or ``STALE``."""
        fast = self.fast
        if fast is not None:
            got = fast.add(counter[0], counter[1], actual)
            if got is not SLOW:
                return got
        self._acquire()
        try:
            self._apply_settled()
            return self._add(*counter, actual)
        finally:
            self._release()

    def read(self, counters: list[Counter], now: float) -> list[tuple[float, float] | None]:
        """(spent, live reserved) of each (slot, counter id); ``None`` for a slot not the counter's."""
        self._acquire()
        try:
            self._apply_settled()
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

    def _apply_settled(self) -> None:
        """Fold the settles published without the lock into their counters: the cost into the spend, then
        the entry freed (the order a reader without the lock relies on); in C when compiled (no thread
        switch between the two), else here."""
        if self.fast is not None and self.fast.apply():
            return
        top = min(self._q[_TOP], self.reservation_slots)
        if top <= 0:
            return
        tokens = self._q[_HEADER_WORDS : _HEADER_WORDS + top * _ENTRY_WORDS : _ENTRY_WORDS].tolist()
        if min(tokens) >= 0:
            return
        for index, token in enumerate(tokens):
            if token >= 0:
                continue
            e = _HEADER_WORDS + index * _ENTRY_WORDS
            slot, counter_id = self._q[e + 3], self._q[e + 4]
            c = self._counters_at + slot * _COUNTER_WORDS
            if self._reach(slot)[c] == counter_id:
                actual = _FLOAT.unpack(_BITS.pack(~token))[0]
                self._d[c + 1] = self._d[c + 1] + actual
            self._unhold(slot, counter_id, self._d[e + 1])
            q = self._q
            q[e] = 0
            q[_LIVE] -= 1
            q[_HINT] = min(q[_HINT], index)
        q = self._q
        while top > 0 and not q[_HEADER_WORDS + (top - 1) * _ENTRY_WORDS]:
            top -= 1  # the entries in use lie below: later scans stop there
        q[_TOP] = min(q[_TOP], top)

    def _clear_entry(self, e: int, token: int) -> bool:
        """Free the entry at word ``e`` if it still holds ``token`` (a settle may have been published since
        the sweep read it: compare-and-swap when compiled; a check right before the store otherwise)."""
        if self.fast is not None:
            return self.fast.clear(e, token)
        if self._q[e] != token:
            return False
        self._q[e] = 0
        return True

    def _sweep(self, now: float) -> None:
        """Drop every reservation whose lease ended; recount the live ones and the earliest lease end."""
        q, d, slots = self._q, self._d, self.reservation_slots
        end = _HEADER_WORDS + slots * _ENTRY_WORDS
        tokens = q[_HEADER_WORDS:end:_ENTRY_WORDS].tolist()
        lease_ends = d[_HEADER_WORDS + 2 : end : _ENTRY_WORDS].tolist()
        live, earliest, hint, top = 0, math.inf, q[_HINT], 0
        for index, token in enumerate(tokens):
            if not token:
                continue
            if token < 0 or lease_ends[index] > now:  # settled and not yet folded in, or live
                live, top = live + 1, index + 1
                if token > 0:
                    earliest = min(earliest, lease_ends[index])
                continue
            e = _HEADER_WORDS + index * _ENTRY_WORDS
            if not self._clear_entry(e, token):  # published meanwhile: folded in by the next operation
                live, top = live + 1, index + 1
                continue
            self._unhold(q[e + 3], q[e + 4], d[e + 1])
            q, d = self._q, self._d  # remapped if that counter lay past the mapping
            hint = min(hint, index)
        q[_LIVE], d[_EARLIEST], q[_HINT], q[_TOP] = live, earliest, hint, top
