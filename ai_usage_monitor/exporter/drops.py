"""The drop ledger: records a process could not write, counted where every process and the server see them.

Each process that drops a record keeps a small JSON file ``<records_dir>/.drops/<host>-<pid>-<start>.json``
(counts by reason, first and last time, last error), rewritten at most once a second while it drops, when
writing works again and at exit. When the records folder refuses it too (unwritable, or a full disk), the
file goes to a fallback folder named after the records folder in the system's temporary directory, which
the server reads as well. Nothing of this runs while no record is dropped.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "DROPS_DIR",
    "DROP_REASONS",
    "DropLedger",
    "DropTotals",
    "fallback_drops_dir",
    "read_ledgers",
    "summarize_drops",
]

logger = logging.getLogger("ai_usage_monitor")

DROPS_DIR = ".drops"
#: ``write_failed``: the OS refused the line (full disk, unwritable folder); ``invalid``: bad numbers
DROP_REASONS = ("write_failed", "invalid")
#: Seconds between two rewrites of a ledger while records keep being dropped.
FLUSH_INTERVAL = 1.0
_ERROR_CHARS = 300


def fallback_drops_dir(records_dir: Path) -> Path:
    """Where ledgers go when ``records_dir`` refuses them: a folder per records folder in the temp dir."""
    key = hashlib.sha256(str(Path(records_dir).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "ai_usage_monitor_drops" / key


class DropLedger:
    """One process's drops for one records folder; ``drop`` is thread-safe."""

    def __init__(self, records_dir: Path) -> None:
        self.records_dir = Path(records_dir)
        self._lock = threading.Lock()
        self._reset()
        _live_ledgers.add(self)

    def _reset(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.last_error: str | None = None
        self.name = f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}.json"
        self.dirty = False
        self._flushed_at = 0.0
        self._in_fallback = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def drop(self, reason: str, error: str) -> None:
        """Count one dropped record; rewrites the ledger file unless it was rewritten less than 1 s ago."""
        now = time.time()
        with self._lock:
            self.counts[reason] = self.counts.get(reason, 0) + 1
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            self.last_error = error[:_ERROR_CHARS]
            self.dirty = True
        self.flush_if_due()

    def flush_if_due(self) -> bool:
        """:meth:`flush`, unless the file was written less than a second ago (then ``False``)."""
        if time.monotonic() - self._flushed_at < FLUSH_INTERVAL:
            return not self.dirty
        return self.flush()

    def flush(self) -> bool:
        """Write the ledger file (atomically) if it changed; ``False`` when no folder would take it."""
        with self._lock:
            if not self.dirty:
                return True
            self._flushed_at = time.monotonic()
            body = orjson.dumps(self.snapshot())
            name = self.name
        fallback = fallback_drops_dir(self.records_dir)
        for folder in (self.records_dir / DROPS_DIR, fallback):
            try:
                _write_atomically(folder, name, body)
            except OSError:
                continue
            with self._lock:
                if orjson.dumps(self.snapshot()) == body:
                    self.dirty = False
            if folder != fallback and self._in_fallback:
                self._in_fallback = False  # the records folder holds it all now
                with contextlib.suppress(OSError):
                    (fallback / name).unlink()
                    fallback.rmdir()  # when no other process's ledger is left in it
            elif folder == fallback:
                self._in_fallback = True
            return True
        return False

    def snapshot(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "process": self.name.removesuffix(".json"),
            "counts": dict(self.counts),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "last_error": self.last_error,
        }


def _write_atomically(folder: Path, name: str, body: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{name}.tmp"
    try:
        temp.write_bytes(body)
        os.replace(temp, folder / name)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


_live_ledgers: weakref.WeakSet[DropLedger] = weakref.WeakSet()


def _flush_all() -> None:
    for ledger in list(_live_ledgers):
        ledger.flush()


def _after_fork_in_child() -> None:
    """A child starts with no drops of its own, under its own pid."""
    for ledger in list(_live_ledgers):
        ledger._lock = threading.Lock()
        ledger._reset()


atexit.register(_flush_all)
os.register_at_fork(after_in_child=_after_fork_in_child)


def read_ledgers(records_dir: Path) -> dict[str, dict[str, Any]]:
    """Every process's ledger for ``records_dir`` (both folders), by process; unreadable files skipped."""
    ledgers: dict[str, dict[str, Any]] = {}
    for folder in (Path(records_dir) / DROPS_DIR, fallback_drops_dir(records_dir)):
        try:
            paths = [p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
        except OSError:
            continue
        for path in paths:
            try:
                data = orjson.loads(path.read_bytes())
                counts = {r: int(data["counts"].get(r, 0)) for r in DROP_REASONS}
            except (OSError, ValueError, TypeError, KeyError, AttributeError):
                continue
            data["counts"] = counts
            key = path.stem
            known = ledgers.get(key)
            if known is None or sum(counts.values()) > sum(known["counts"].values()):
                ledgers[key] = data  # the same process may have written both folders: the later wins
    return ledgers


def summarize_drops(ledgers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``/health``'s ``records_dropped``: total, by reason, processes that dropped, last time and error."""
    by_reason = dict.fromkeys(DROP_REASONS, 0)
    last_at: float | None = None
    last_error: str | None = None
    processes = 0
    for ledger in ledgers.values():
        counts = ledger["counts"]
        if not any(counts.values()):
            continue
        processes += 1
        for reason in DROP_REASONS:
            by_reason[reason] += counts[reason]
        at = ledger.get("last_at")
        if isinstance(at, (int, float)) and (last_at is None or at > last_at):
            last_at, last_error = float(at), ledger.get("last_error")
    return {
        "total": sum(by_reason.values()),
        "by_reason": by_reason,
        "processes": processes,
        "last_at": last_at,
        "last_error": last_error,
    }


class DropTotals:
    """Drops by reason as a counter that never goes down while the server runs, even if ledgers are deleted:
    each process keeps the highest count it was seen with."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def observe(self, ledgers: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, int]:
        with self._lock:
            for key, ledger in ledgers:
                seen = self._seen.setdefault(key, dict.fromkeys(DROP_REASONS, 0))
                for reason in DROP_REASONS:
                    seen[reason] = max(seen[reason], ledger["counts"][reason])
            return {r: sum(seen[r] for seen in self._seen.values()) for r in DROP_REASONS}
