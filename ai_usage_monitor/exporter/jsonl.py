"""Append usage records to daily JSONL files: one ``os.write`` per line, so writers never interleave.

Files are opened with ``O_APPEND``: every line lands whole at the end even when many threads and
processes append to the same file. A full disk or unwritable folder never fails the caller: the record is
dropped, counted and logged once, and writing resumes by itself when the folder is writable again.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from ai_usage_monitor.records import UsageRecord

__all__ = ["JsonlExporter", "record_file_name"]

logger = logging.getLogger("ai_usage_monitor")

_FILE_MODE = 0o644
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


_live_exporters: weakref.WeakSet[JsonlExporter] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    """A lock held by another thread at fork time would stay locked forever in the child."""
    for exporter in list(_live_exporters):
        exporter._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_locks_after_fork)


def record_file_name(day: str) -> str:
    """``usage_YYYY-MM-DD.jsonl`` for a local calendar day."""
    return f"usage_{day}.jsonl"


class JsonlExporter:
    """Writes each record as one line of ``<records_dir>/usage_<local date>.jsonl``."""

    def __init__(self, records_dir: Path, tz: tzinfo, *, fsync: bool = False) -> None:
        self.records_dir = Path(records_dir)
        self.tz = tz
        self.fsync = fsync
        self.written = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._fd = -1
        self._retired_fd = -1
        self._day_start = 0.0
        self._day_end = 0.0
        self._failing = False
        _live_exporters.add(self)

    def export(self, record: UsageRecord) -> bool:
        """Write one record; ``False`` (and a counted drop) when it could not be written."""
        line = record.to_json_line()
        ts = record.timestamp
        try:
            fd = self._fd
            if not (self._day_start <= ts < self._day_end) or fd < 0:
                fd = self._open_for(ts)
            written = os.write(fd, line)
            if written != len(line):  # only on a full disk: finish the line or fail
                os.write(fd, line[written:])
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            self._on_failure(exc)
            return False
        self.written += 1
        if self._failing:
            self._failing = False
            logger.warning("ai-usage-monitor: writing records to %s works again", self.records_dir)
        return True

    def _open_for(self, ts: float) -> int:
        """Switch to the file of the local day holding ``ts`` (a new day, or after a failure)."""
        with self._lock:
            local = datetime.fromtimestamp(ts, self.tz)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            next_midnight = midnight + timedelta(days=1)  # wall-clock arithmetic: DST-safe
            path = self.records_dir / record_file_name(midnight.strftime("%Y-%m-%d"))
            try:
                fd = os.open(path, _OPEN_FLAGS, _FILE_MODE)
            except FileNotFoundError:
                self.records_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, _OPEN_FLAGS, _FILE_MODE)
            # The previous day's file stays open until the next switch: a thread that read the old
            # descriptor just before this switch must not find it closed (or reused for another file).
            if self._retired_fd >= 0:
                os.close(self._retired_fd)
            self._retired_fd, self._fd = self._fd, fd
            self._day_start = midnight.timestamp()
            self._day_end = next_midnight.timestamp()
            return fd

    def _on_failure(self, exc: OSError) -> None:
        self.dropped += 1
        self._day_end = 0.0  # reopen on the next record; the failing descriptor is retired then
        if not self._failing:
            self._failing = True
            logger.error(
                "ai-usage-monitor: cannot write usage records to %s (%s); records are dropped and counted "
                "until it is writable again",
                self.records_dir,
                exc,
            )

    def close(self) -> None:
        with self._lock:
            for fd in (self._fd, self._retired_fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._retired_fd = -1
            self._day_end = 0.0
