"""Append usage records to daily JSONL files: one ``os.write`` per line, so writers never interleave.

Files are opened with ``O_APPEND``: every line lands whole at the end even when many threads and
processes append to the same file. A full disk or unwritable folder never fails the caller: the record is
dropped, counted in the drop ledger (``exporter/drops.py``) and logged once, and writing resumes by itself
when the folder is writable again.

Descriptors: the file is reopened only for another day or when today's file was deleted or moved, never
because a write failed. A ``stat`` of today's name tells whether the lines went to a file that no longer
has that name; it runs at most every ``check_interval`` seconds (or every ``_CHECK_LINES`` lines, at a day
change and at close), since right after an AI call's network I/O one ``stat`` costs ~10 µs. The lines
written since the last check are kept until it runs: when the file was deleted or moved they are written
again to a new file under today's name, so none is lost (a moved file may then hold a copy of a record that
is also in the new file, with the same ``record_id``; the store counts it once). Writers hold a lock while
they use the descriptor and it is closed under the same lock, so a descriptor is never closed while a thread
can still write through it (its number could otherwise be reused by the application's next ``open``, and
records would land in the application's files).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from ai_usage_monitor.exporter.drops import DropLedger
from ai_usage_monitor.records import UsageRecord

__all__ = ["JsonlExporter", "record_file_name"]

logger = logging.getLogger("ai_usage_monitor")

_FILE_MODE = 0o644
#: Seconds between two looks at whether today's file was deleted or moved (0: after every line).
CHECK_INTERVAL = 0.1
#: Lines kept for a rewrite at most; with more, the check runs at once.
_CHECK_LINES = 256
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


_live_exporters: weakref.WeakSet[JsonlExporter] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    """A lock held by another thread at fork time would stay locked forever in the child; the parent's
    unchecked lines are the parent's to write again."""
    for exporter in list(_live_exporters):
        exporter._lock = threading.Lock()
        exporter._unchecked = []


def _check_all_at_exit() -> None:
    for exporter in list(_live_exporters):
        exporter.check_now()


os.register_at_fork(after_in_child=_reset_locks_after_fork)
atexit.register(_check_all_at_exit)


def record_file_name(day: str) -> str:
    """``usage_YYYY-MM-DD.jsonl`` for a local calendar day."""
    return f"usage_{day}.jsonl"


class JsonlExporter:
    """Writes each record as one line of ``<records_dir>/usage_<local date>.jsonl``."""

    def __init__(
        self, records_dir: Path, tz: tzinfo, *, fsync: bool = False, check_interval: float = CHECK_INTERVAL
    ) -> None:
        self.records_dir = Path(records_dir)
        self.check_interval = check_interval
        #: lines written to the current file since its name was last checked, and when to check next
        self._unchecked: list[bytes] = []
        self._check_at = 0.0
        self.tz = tz
        self.fsync = fsync
        self.written = 0
        self.ledger = DropLedger(self.records_dir)
        self._lock = threading.Lock()
        self._fd = -1
        self._path = ""
        #: (st_dev, st_ino) of the file ``_fd`` writes to
        self._identity = (-1, -1)
        self._day_start = 0.0
        self._day_end = 0.0
        #: the file a failed write left part of a line at the end of: its next line starts with a newline
        self._torn_path = ""
        #: writes fail (logged once per run of failures)
        self._write_failing = False
        #: set by a drop: the next successful writes bring the ledger file up to date
        self._after_drop = False
        _live_exporters.add(self)

    @property
    def dropped(self) -> int:
        """Records this exporter (this process, since it was built) did not write, whatever the reason."""
        return self.ledger.total

    def export(self, record: UsageRecord) -> bool:
        """Write one record; ``False`` (and a counted drop) when it could not be written."""
        line = record.to_json_line()
        ts = record.timestamp
        try:
            with self._lock:
                if not (self._day_start <= ts < self._day_end):
                    if self._unchecked:
                        self._check()
                    self._open_for(ts)
                self._write(line)
                unchecked = self._unchecked
                unchecked.append(line)
                if len(unchecked) >= _CHECK_LINES or time.monotonic() >= self._check_at:
                    self._check()
        except (ValueError, OverflowError) as exc:  # a time no calendar day holds
            self.drop("invalid", exc)
            return False
        except OSError as exc:
            self.drop("write_failed", exc)
            return False
        self.written += 1
        if self._after_drop:
            self._written_after_drop()
        return True

    def _check(self) -> None:
        """If today's file was deleted or moved, write the lines since the last check again to a new file
        under today's name, where the server reads them; the caller holds the lock."""
        lines, self._unchecked = self._unchecked, []
        self._check_at = time.monotonic() + self.check_interval
        if not lines or not self._replaced():
            return
        self._open_for(self._day_start)
        for i, line in enumerate(lines):
            try:
                self._write(line)
            except OSError as exc:
                for _ in lines[i:]:
                    self.drop("write_failed", exc)
                return

    def _replaced(self) -> bool:
        """Whether today's name no longer leads to the file being written (one ``stat``, ~1.5 µs)."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return True
        except OSError:
            return False  # cannot tell (e.g. the folder became unreadable): keep the file
        return (st.st_dev, st.st_ino) != self._identity

    def _write(self, line: bytes) -> None:
        """Append ``line`` whole, after a newline if this file ends in a torn line; caller holds the lock."""
        fd, path = self._fd, self._path
        if self._torn_path == path:
            line = b"\n" + line
        written = os.write(fd, line)
        if written != len(line):  # only on a full disk: finish the line, or leave it torn
            self._torn_path = path
            os.write(fd, line[written:])
        if self._torn_path == path:
            self._torn_path = ""
        if self.fsync:
            os.fsync(fd)

    def _open_for(self, ts: float) -> None:
        """Switch to the file of the local day holding ``ts``; the caller holds the lock, so no writer is
        using the descriptor closed here."""
        local = datetime.fromtimestamp(ts, self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        next_midnight = midnight + timedelta(days=1)  # wall-clock arithmetic: DST-safe
        path = str(self.records_dir / record_file_name(midnight.strftime("%Y-%m-%d")))
        try:
            fd = os.open(path, _OPEN_FLAGS, _FILE_MODE)
        except FileNotFoundError:
            self.records_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, _OPEN_FLAGS, _FILE_MODE)
        st = os.fstat(fd)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._path, self._identity = fd, path, (st.st_dev, st.st_ino)
        self._day_start = midnight.timestamp()
        self._day_end = next_midnight.timestamp()

    def drop(self, reason: str, exc: BaseException | str) -> None:
        """Count a record that is not written, in the ledger; the first of a run of failures is logged."""
        error = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        if reason == "write_failed" and not self._write_failing:
            self._write_failing = True
            logger.error(
                "ai-usage-monitor: cannot write usage records to %s (%s); records are dropped and counted "
                "until it is writable again",
                self.records_dir,
                error,
            )
        self._after_drop = True
        self.ledger.drop(reason, error)

    def _written_after_drop(self) -> None:
        """A record was written after drops: log a recovery, and bring the ledger file up to date."""
        if self._write_failing:
            self._write_failing = False
            logger.warning("ai-usage-monitor: writing records to %s works again", self.records_dir)
            done = self.ledger.flush()
        else:
            done = self.ledger.flush_if_due()
        if done:
            self._after_drop = False

    def check_now(self) -> None:
        """Look at today's file now (at close and at exit): lines written since the last look are not left
        in a file that was deleted or moved."""
        with self._lock:
            self._check_locked()

    def _check_locked(self) -> None:
        if self._unchecked:
            try:
                self._check()
            except OSError as exc:
                logger.error("ai-usage-monitor: cannot check %s (%s)", self._path, exc)

    def close(self) -> None:
        with self._lock:
            self._check_locked()
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = -1
            self._path = ""
            self._identity = (-1, -1)
            self._day_end = 0.0
        self.ledger.flush()
