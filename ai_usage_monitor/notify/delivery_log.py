"""The outbox's persistent state, shared by every process on the host: SQLite in WAL mode under
``<records_dir>/.notify/``. One row per (key, channel) makes "once per key" hold across processes and
restarts; every attempt is appended to a history that the REST API lists.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ai_usage_monitor.notify.message import Message

__all__ = ["DELIVERY_LOG_NAME", "AttemptRow", "DeliveryLog", "DueDelivery", "delivery_log_path"]

DELIVERY_LOG_NAME = "outbox.sqlite3"

AttemptStatus = Literal["queued", "delivered", "retry", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT NOT NULL, channel TEXT NOT NULL, message TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL, lease_until REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL,
    PRIMARY KEY (key, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, channel TEXT NOT NULL, key TEXT NOT NULL,
    title TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL, error TEXT, pid INTEGER NOT NULL
);
"""


def delivery_log_path(records_dir: Path) -> Path:
    return records_dir / ".notify" / DELIVERY_LOG_NAME


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One line of the delivery history."""

    id: int
    at: float
    channel: str
    key: str
    title: str
    status: str
    attempt: int
    error: str | None
    pid: int


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A pending (key, channel) this process has leased for one attempt."""

    key: str
    channel: str
    message: Message
    attempt: int


class DeliveryLog:
    """The shared delivery state; every method is one short transaction, safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _attempt(
        db: sqlite3.Connection,
        key: str,
        channel: str,
        title: str,
        *,
        status: str,
        attempt: int,
        error: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO attempts (at, channel, key, title, status, attempt, error, pid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), channel, key, title, status, attempt, error, os.getpid()),
        )

    def enqueue(self, message: Message, channels: list[str], now: float | None = None) -> list[str]:
        """Add ``message`` for each channel that never had its key; returns the channels it was added for."""
        at = time.time() if now is None else now
        added = []
        stored = json.dumps(message.to_dict(), ensure_ascii=False)
        with self._transaction() as db:
            for channel in channels:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO deliveries (key, channel, message, status, next_at, created_at) "
                    "VALUES (?, ?, ?, 'pending', ?, ?)",
                    (message.key, channel, stored, at, at),
                )
                if cursor.rowcount:
                    added.append(channel)
                    self._attempt(
                        db, message.key, channel, message.title, status="queued", attempt=0, error=None
                    )
        return added

    def lease_due(self, lease_seconds: float, limit: int = 20, now: float | None = None) -> list[DueDelivery]:
        """Pending deliveries due now and not leased by a live attempt elsewhere, leased to this process."""
        at = time.time() if now is None else now
        with self._transaction() as db:
            rows = db.execute(
                "SELECT key, channel, message, attempts FROM deliveries "
                "WHERE status = 'pending' AND next_at <= ? AND lease_until <= ? ORDER BY next_at LIMIT ?",
                (at, at, limit),
            ).fetchall()
            for key, channel, _, _ in rows:
                db.execute(
                    "UPDATE deliveries SET lease_until = ? WHERE key = ? AND channel = ?",
                    (at + lease_seconds, key, channel),
                )
        return [
            DueDelivery(key, channel, Message.from_dict(json.loads(message)), attempts + 1)
            for key, channel, message, attempts in rows
        ]

    def finish(self, due: DueDelivery, error: str | None, retry_at: float | None) -> AttemptStatus:
        """Record an attempt: delivered (``error`` is None), retried at ``retry_at``, or given up."""
        status: AttemptStatus = (
            "delivered" if error is None else ("retry" if retry_at is not None else "failed")
        )
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, lease_until = 0 "
                "WHERE key = ? AND channel = ?",
                (
                    "pending" if status == "retry" else status,
                    due.attempt,
                    retry_at if retry_at is not None else time.time(),
                    due.key,
                    due.channel,
                ),
            )
            self._attempt(
                db, due.key, due.channel, due.message.title, status=status, attempt=due.attempt, error=error
            )
        return status

    def next_due_at(self) -> float | None:
        """When the earliest pending delivery (leased or not) may be tried; None when none is pending."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(MAX(next_at, lease_until)) FROM deliveries WHERE status = 'pending'"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def attempts(self, limit: int = 100) -> list[AttemptRow]:
        """The delivery history, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, channel, key, title, status, attempt, error, pid FROM attempts "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [AttemptRow(*row) for row in rows]

    def status_of(self, key: str, channel: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status FROM deliveries WHERE key = ? AND channel = ?", (key, channel)
            ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
