"""The host's ledger: one SQLite file in WAL mode under ``<records_dir>/.budgets/``, no extra service.

Every check-and-add runs in a ``BEGIN IMMEDIATE`` transaction, which holds the file's single write lock:
the processes of the host writing to the same records folder (on a local disk, not a network share)
serialise on it, so no two callers can both take the last of a budget. Commits do not fsync (WAL with
``synchronous = NORMAL``): a power cut may lose the last spend, never corrupt the file.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ai_usage_monitor.budgets.config import PeriodWindow
from ai_usage_monitor.budgets.ledger import (
    DEFAULT_LEASE_SECONDS,
    Ledger,
    Refusal,
    Reservation,
    SpendLoader,
    SpendStatus,
)

__all__ = ["LEDGER_DIR", "LEDGER_FILE", "LocalLedger"]

LEDGER_DIR = ".budgets"
LEDGER_FILE = "ledger.sqlite3"
#: how long a writer waits for another process's transaction (seeding a month reads its records)
_BUSY_TIMEOUT_S = 60.0
#: counters of periods that ended longer ago than this are dropped when a new period is seeded
_KEEP_ENDED_S = 40 * 86_400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    budget TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL,
    resets_at REAL NOT NULL, spent REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (budget, scope, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY,
    budget TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL,
    amount REAL NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seeded (
    budget TEXT NOT NULL, period TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (budget, period)
) WITHOUT ROWID;
"""

_ADD_SPEND = (
    "INSERT INTO spend (budget, scope, period, resets_at, spent) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (budget, scope, period) DO UPDATE SET spent = spent + excluded.spent"
)
_ADD_SPEND_RETURNING = _ADD_SPEND + " RETURNING spent"
_SPENT = "SELECT spent FROM spend WHERE budget = ? AND scope = ? AND period = ?"
_RESERVE = "INSERT INTO reservations (id, budget, scope, period, amount, expires) VALUES (?, ?, ?, ?, ?, ?)"
#: the table holds only reservations in flight (a few rows): a scan is cheaper than an index to write
_RESERVED = (
    "SELECT COALESCE(SUM(amount), 0) FROM reservations "
    "WHERE budget = ? AND scope = ? AND period = ? AND expires > ?"
)


class LocalLedger(Ledger):
    """The ledger file of a records folder, shared by every process (and thread) that opens it."""

    def __init__(self, records_dir: Path, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        super().__init__(lease_seconds)
        self.path = Path(records_dir) / LEDGER_DIR / LEDGER_FILE
        self._lock = threading.Lock()
        self._pid = -1
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own: SQLite handles must not cross a fork)."""
        if self._db is not None and self._pid == os.getpid():
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
        self._db, self._pid = db, os.getpid()
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connection()
            with _write(db):
                yield db

    def reserve(
        self, budget: str, scope_value: str, window: PeriodWindow, amount: float, limit: float
    ) -> Reservation | Refusal:
        key = (budget, scope_value, window.label)
        now = time.time()
        with self._transaction() as db:
            row = db.execute(_SPENT, key).fetchone()
            if row is None:  # the counter's first use: create it so that status lists it with its reset time
                db.execute(_ADD_SPEND, (*key, window.end, 0.0))
            spent = row[0] if row else 0.0
            reserved = db.execute(_RESERVED, (*key, now)).fetchone()[0]
            if spent + reserved + amount > limit:
                return Refusal(budget, scope_value, window.label, window.end, amount, spent, reserved, limit)
            token = _new_id()
            db.execute(_RESERVE, (token, *key, amount, now + self.lease_seconds))
        return Reservation(budget, scope_value, window.label, window.end, amount, str(token))

    def settle(self, reservation: Reservation, actual: float) -> float:
        r = reservation
        with self._transaction() as db:
            db.execute("DELETE FROM reservations WHERE id = ?", (int(r.token),))
            row = db.execute(_ADD_SPEND_RETURNING, (r.budget, r.scope_value, r.period, r.resets_at, actual))
            return float(row.fetchone()[0])

    def add(self, budget: str, scope_value: str, window: PeriodWindow, actual: float) -> float:
        with self._transaction() as db:
            row = db.execute(_ADD_SPEND_RETURNING, (budget, scope_value, window.label, window.end, actual))
            return float(row.fetchone()[0])

    def status(self) -> list[SpendStatus]:
        now = time.time()
        with self._transaction() as db:
            db.execute("DELETE FROM reservations WHERE expires <= ?", (now,))
            rows = db.execute(
                "SELECT s.budget, s.scope, s.period, s.resets_at, s.spent, COALESCE(SUM(r.amount), 0) "
                "FROM spend s LEFT JOIN reservations r USING (budget, scope, period) "
                "GROUP BY s.budget, s.scope, s.period ORDER BY s.budget, s.scope, s.resets_at"
            ).fetchall()
        return [SpendStatus(*row) for row in rows]

    def _seed(self, budget: str, window: PeriodWindow, load: SpendLoader) -> bool:
        with self._transaction() as db:
            if db.execute(
                "SELECT 1 FROM seeded WHERE budget = ? AND period = ?", (budget, window.label)
            ).fetchone():
                return False
            # the write lock is held while the records are read: nothing reserves against an unseeded period
            for scope, spent in load().items():
                db.execute(_ADD_SPEND, (budget, scope, window.label, window.end, spent))
            now = time.time()
            db.execute(
                "INSERT INTO seeded (budget, period, at) VALUES (?, ?, ?)", (budget, window.label, now)
            )
            db.execute("DELETE FROM spend WHERE resets_at < ?", (now - _KEEP_ENDED_S,))
            db.execute("DELETE FROM reservations WHERE expires <= ?", (now,))
        return True

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None


def _new_id() -> int:
    """A random positive 63-bit id: never reused, unlike a rowid (a late settle must not hit a new one)."""
    return secrets.randbits(63) or 1


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
