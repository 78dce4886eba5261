"""Retention (docs/operations.md, "Retention"): day files older than ``retention_days`` gzipped, index rows
older than ``index_retention_days`` dropped; by hand (``ai-usage-monitor retention``) or by a running server
at its start and every ``retention_interval`` seconds, without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.store.compress import (
    QUIET_SECONDS,
    Compressed,
    compress_day_file,
    old_day_files,
    retention_lock,
)
from ai_usage_monitor.store.periods import day_start

if TYPE_CHECKING:
    from ai_usage_monitor.config import Settings
    from ai_usage_monitor.store.backend import Store
    from ai_usage_monitor.store.index import UsageStore

__all__ = ["RetentionReport", "RetentionScheduler", "apply_retention", "index_cutoff", "start_retention"]

#: ``progress(files_done, files_total)`` while day files are compressed.
FileProgress = Callable[[int, int], None]


@dataclass(slots=True)
class RetentionReport:
    """What one retention pass did (or, in a dry run, would do)."""

    dry_run: bool = False
    #: day files compressed (a dry run: the names it would compress, with their sizes)
    compressed: list[Compressed] = field(default_factory=list)
    #: day files old enough but left for a later pass (written to lately, or still growing)
    left: list[str] = field(default_factory=list)
    rows_dropped: int = 0
    #: the first local day whose index rows are kept; ``None`` when index retention is off
    index_kept_from: str | None = None
    #: index retention is on but no index was given (a server holds it and drops its rows itself)
    index_left: bool = False

    def summary(self) -> str:
        """One line for people: what was (or would be) compressed and dropped."""
        verb = ("would compress", "would drop") if self.dry_run else ("compressed", "dropped")
        plain = sum(c.plain_bytes for c in self.compressed)
        packed = sum(c.gz_bytes for c in self.compressed)
        files = f"{verb[0]} {len(self.compressed)} day files ({plain:,} bytes"
        files += ")" if self.dry_run else f" → {packed:,} bytes)"
        if self.left:
            files += f", left {len(self.left)} written to lately"
        if self.index_kept_from is None:
            rows = "index retention off"
        elif self.index_left:
            rows = f"index rows before {self.index_kept_from} left to the server holding the index"
        else:
            rows = f"{verb[1]} {self.rows_dropped:,} index rows before {self.index_kept_from}"
        return f"retention: {files}; {rows}"


def index_cutoff(settings: Settings, now: float) -> tuple[float, str] | None:
    """The start of the first local day whose index rows are kept, and that day; ``None`` when kept all."""
    if not settings.index_retention_days:
        return None
    day = datetime.fromtimestamp(now, settings.tz).date() - timedelta(days=settings.index_retention_days)
    return day_start(settings.tz, day), day.isoformat()


def apply_retention(
    settings: Settings,
    store: UsageStore | None,
    *,
    now: float | None = None,
    dry_run: bool = False,
    quiet_seconds: float = QUIET_SECONDS,
    progress: FileProgress | None = None,
) -> RetentionReport:
    """One pass: compress the old day files, then drop the ``store``'s old rows (none given: left)."""
    now = time.time() if now is None else now
    report = RetentionReport(dry_run=dry_run)
    if settings.retention_days:
        _compress(settings, report, now, quiet_seconds, progress)
    cutoff = index_cutoff(settings, now)
    if cutoff is not None:
        report.index_kept_from = cutoff[1]
        if store is None:
            report.index_left = True
        else:
            report.rows_dropped = store.drop_before(cutoff[0], dry_run=dry_run)
    return report


def _compress(
    settings: Settings,
    report: RetentionReport,
    now: float,
    quiet_seconds: float,
    progress: FileProgress | None,
) -> None:
    records_dir = settings.records_dir
    if not records_dir.is_dir():
        return
    with retention_lock(records_dir):
        paths = old_day_files(records_dir, settings.tz, settings.retention_days, now)
        for done, path in enumerate(paths, 1):
            result = (
                _would_compress(path, now, quiet_seconds)
                if report.dry_run
                else compress_day_file(path, now=now, quiet_seconds=quiet_seconds)
            )
            if result is None:
                report.left.append(path.name)
            else:
                report.compressed.append(result)
            if progress is not None:
                progress(done, len(paths))


def _would_compress(path: Path, now: float, quiet_seconds: float) -> Compressed | None:
    """A dry run's entry for a file a pass would compress (its gzip size unknown: 0)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return None if now - st.st_mtime < quiet_seconds else Compressed(path.name, st.st_size, 0)


class RetentionScheduler:
    """Runs ``apply_retention`` on a daemon thread: at once, then every ``settings.retention_interval``."""

    def __init__(self, store: UsageStore) -> None:
        self.store = store
        self.last: RetentionReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ai-usage-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = apply_retention(self.store.settings, self.store)
            except Exception as exc:  # logged once; the next pass tries again
                handle_internal_error("store.retention", exc)
            self._stop.wait(self.store.settings.retention_interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def start_retention(store: Store) -> RetentionScheduler | None:
    """The running server's retention, when a retention setting is on and the store is a local index it may
    change (a ClickHouse store keeps its own retention: ``clickhouse/store.py``)."""
    from ai_usage_monitor.store.index import UsageStore

    settings = store.settings
    wanted = settings.retention_days or settings.index_retention_days
    if not wanted or not isinstance(store, UsageStore) or store.mode == "read_only":
        return None
    scheduler = RetentionScheduler(store)
    scheduler.start()
    return scheduler
