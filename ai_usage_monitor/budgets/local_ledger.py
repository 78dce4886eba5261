"""The host's ledger under ``<records_dir>/.budgets/``, shared by the processes writing to that records
folder (on a local disk, not a network share) with no extra service.

Hot: the counters and live reservations in a memory-mapped file (``counter_map``): a reserve or a settle
is a few reads and writes under the file's lock, exact like a transaction. Cold, in SQLite (WAL):
the directory of counters (budget, scope value, period → slot of the mapped file, made once per counter
and period), the ``seeded`` markers (a period's recorded spend counted once, under the directory's write
lock) and the dropping of ended periods. Nothing is fsync'd: a power cut may lose the last spend.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ai_usage_monitor.budgets.config import PeriodWindow
from ai_usage_monitor.budgets.counter_map import DEFAULT_RESERVATION_SLOTS, Counter, CounterMap, LedgerFull
from ai_usage_monitor.budgets.ledger import (
    DEFAULT_LEASE_SECONDS,
    Ledger,
    Refusal,
    Reservation,
    SpendLoader,
    SpendStatus,
)
from ai_usage_monitor.internal import handle_internal_error

__all__ = ["COUNTERS_FILE", "LEDGER_DIR", "LEDGER_FILE", "LocalLedger"]

LEDGER_DIR = ".budgets"
#: the SQLite directory (a new name: the transaction-per-call ledger's ``ledger.sqlite3`` is not read)
LEDGER_FILE = "directory.sqlite3"
COUNTERS_FILE = "counters.bin"
#: how long a writer waits for another process's transaction (seeding a month reads its records)
_BUSY_TIMEOUT_S = 60.0
#: counters of periods that ended longer ago than this are dropped when a new period is seeded
_KEEP_ENDED_S = 40 * 86_400.0
#: counters remembered by a process before it starts over (a quota per user makes many)
_MAX_REMEMBERED = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    budget TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL,
    resets_at REAL NOT NULL, slot INTEGER NOT NULL UNIQUE,
    UNIQUE (budget, scope, period)
);
CREATE TABLE IF NOT EXISTS free_slots (slot INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS seeded (
    budget TEXT NOT NULL, period TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (budget, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
_FIND = "SELECT slot, id FROM counters WHERE budget = ? AND scope = ? AND period = ?"

_Key = tuple[str, str, str]
#: connections a forked child inherited: kept, never used nor closed (closing one could disturb the parent)
_INHERITED: list[sqlite3.Connection] = []


def _reconnect_in_child(ref: weakref.ref[LocalLedger]) -> None:
    ledger = ref()
    if ledger is not None:
        ledger._after_fork()


class LocalLedger(Ledger):
    """The ledger of a records folder, shared by every process (and thread) that opens it."""

    def __init__(
        self,
        records_dir: Path,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        reservation_slots: int = DEFAULT_RESERVATION_SLOTS,
    ) -> None:
        super().__init__(lease_seconds)
        folder = Path(records_dir) / LEDGER_DIR
        self.path = folder / LEDGER_FILE
        self.counters = CounterMap(folder / COUNTERS_FILE, reservation_slots=reservation_slots)
        #: guards the SQLite connection (the cold path); the hot path takes only the counters' locks
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        #: (budget, scope value, period) → (slot, counter id), as the directory said
        self._known: dict[_Key, Counter] = {}
        if hasattr(os, "register_at_fork"):
            alive = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _reconnect_in_child(alive))

    def _after_fork(self) -> None:
        """SQLite handles must not cross a fork: the child connects anew (the parent's is left alone)."""
        self._lock = threading.Lock()
        if self._db is not None:
            _INHERITED.append(self._db)
        self._db = None

    # -- the directory (cold) --

    def _connection(self) -> sqlite3.Connection:
        """The directory, checked against the counters file once per connection (a child after a fork
        reconnects: SQLite handles must not cross a fork)."""
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        with _write(db):
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            self._match_counters_file(db)
        self._db = db
        return db

    def _match_counters_file(self, db: sqlite3.Connection) -> None:
        """A new directory starts the counters file over; a new counters file empties the directory (its
        slots and seeded markers meant the old file; the periods are seeded again from the records)."""
        file_id = self.counters.identity()
        row = db.execute("SELECT value FROM meta WHERE key = 'counters_file'").fetchone()
        if row is None:
            self.counters.reset()
        elif row[0] != file_id:
            for table in ("counters", "free_slots", "seeded"):
                db.execute(f"DELETE FROM {table}")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counters_file', ?)", (file_id,))
        self._known.clear()

    def _counter(self, key: _Key, resets_at: float) -> Counter:
        """The counter's slot and id, made in the directory on its first use."""
        with self._lock:
            db = self._connection()
            found = db.execute(_FIND, key).fetchone()
            if found is None:
                with _write(db):
                    found = self._make(db, key, resets_at)
            if len(self._known) >= _MAX_REMEMBERED:
                self._known.clear()
            counter = self._known[key] = (found[0], found[1])
            return counter

    def _make(self, db: sqlite3.Connection, key: _Key, resets_at: float) -> Counter:
        """Within a write transaction: the counter's slot, given a slot if it has none yet."""
        found = db.execute(_FIND, key).fetchone()
        if found is not None:
            return found[0], found[1]
        free = db.execute("SELECT slot FROM free_slots ORDER BY slot LIMIT 1").fetchone()
        if free is not None:
            slot = free[0]
            db.execute("DELETE FROM free_slots WHERE slot = ?", (slot,))
        else:
            slot = db.execute("SELECT COALESCE(MAX(slot) + 1, 0) FROM counters").fetchone()[0]
        counter_id = db.execute(
            "INSERT INTO counters (budget, scope, period, resets_at, slot) VALUES (?, ?, ?, ?, ?) "
            "RETURNING id",
            (*key, resets_at, slot),
        ).fetchone()[0]
        self.counters.assign(slot, counter_id)
        return slot, counter_id

    def _forget(self, key: _Key, resets_at: float) -> Counter:
        """Look a counter up again: the slot this process knew was given to another counter."""
        self._known.pop(key, None)
        return self._counter(key, resets_at)

    # -- the operations --

    def reserve(
        self, budget: str, scope_value: str, window: PeriodWindow, amount: float, limit: float
    ) -> Reservation | Refusal:
        key = (budget, scope_value, window.label)
        counter = self._known.get(key) or self._counter(key, window.end)
        now = time.time()
        expires = now + self.lease_seconds
        try:
            got = self.counters.reserve(counter, amount, limit, now, expires)
            if got is None:
                got = self.counters.reserve(self._forget(key, window.end), amount, limit, now, expires)
        except LedgerFull as exc:  # refused rather than let through unguarded
            handle_internal_error("budget ledger", exc)
            got = (exc.spent, exc.reserved)
        if got.__class__ is int:  # the token names the counter too: a settle needs no look-up
            return Reservation(budget, scope_value, window.label, window.end, amount, (got, counter))
        spent, reserved = got if isinstance(got, tuple) else (0.0, 0.0)
        return Refusal(budget, scope_value, window.label, window.end, amount, spent, reserved, limit)

    def settle(self, reservation: Reservation, actual: float) -> float:
        token, counter = reservation.token
        spent = self.counters.settle(token, counter, actual)
        if spent is None:  # the counter's slot was reused: the reservation is gone with it, the spend is not
            r = reservation
            spent = self.counters.add(self._forget((r.budget, r.scope_value, r.period), r.resets_at), actual)
        return spent or 0.0

    def add(self, budget: str, scope_value: str, window: PeriodWindow, actual: float) -> float:
        key = (budget, scope_value, window.label)
        spent = self.counters.add(self._known.get(key) or self._counter(key, window.end), actual)
        if spent is None:
            spent = self.counters.add(self._forget(key, window.end), actual)
        return spent or 0.0

    def status(self) -> list[SpendStatus]:
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT budget, scope, period, resets_at, slot, id FROM counters "
                    "ORDER BY budget, scope, resets_at"
                )
                .fetchall()
            )
        figures = self.counters.read([(slot, counter_id) for *_, slot, counter_id in rows], time.time())
        return [
            SpendStatus(budget, scope, period, resets_at, *figure)
            for (budget, scope, period, resets_at, _, _), figure in zip(rows, figures, strict=True)
            if figure is not None
        ]

    def _seed(self, budget: str, window: PeriodWindow, load: SpendLoader) -> bool:
        with self._lock:
            db = self._connection()
            with _write(db):
                if db.execute(
                    "SELECT 1 FROM seeded WHERE budget = ? AND period = ?", (budget, window.label)
                ).fetchone():
                    return False
                # the write lock is held while the records are read: nothing reserves against an unseeded
                # period (every process seeds, and so waits here, before its first reserve of a period)
                spend = [
                    (self._make(db, (budget, scope, window.label), window.end), spent)
                    for scope, spent in load().items()
                ]
                now = time.time()
                db.execute(
                    "INSERT INTO seeded (budget, period, at) VALUES (?, ?, ?)", (budget, window.label, now)
                )
                self._drop_ended(db, now)
                for counter, spent in spend:  # last: nothing after it can roll the seeding back
                    self.counters.add(counter, spent)
        return True

    def _drop_ended(self, db: sqlite3.Connection, now: float) -> None:
        """Forget the counters of periods that ended long ago; their slots serve new counters."""
        ended = db.execute(
            "SELECT slot, id FROM counters WHERE resets_at < ?", (now - _KEEP_ENDED_S,)
        ).fetchall()
        if not ended:
            return
        self.counters.free([(slot, counter_id) for slot, counter_id in ended], now)
        db.executemany("DELETE FROM counters WHERE id = ?", [(counter_id,) for _, counter_id in ended])
        db.executemany("INSERT OR IGNORE INTO free_slots (slot) VALUES (?)", [(slot,) for slot, _ in ended])
        db.execute("DELETE FROM seeded WHERE at < ?", (now - _KEEP_ENDED_S - 31 * 86_400.0,))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db = None
            self.counters.close()


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


@contextmanager
def _write(db: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction: committed at the end, rolled back on an exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
