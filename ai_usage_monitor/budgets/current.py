"""The budgets' status now, read from the ledger the settings name and from the records folder (the
inputs of ``budgets.status.build_status``); reading never writes a counter or seeds a period.

The records are read incrementally: a daily file only grows, so each read continues where the last one
stopped (a server answering every few seconds, and each ``/metrics`` scrape, parse only the new lines).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from ai_usage_monitor.budgets.config import Budget, PeriodWindow
from ai_usage_monitor.budgets.ledger import SpendStatus, open_ledger
from ai_usage_monitor.budgets.local_ledger import LEDGER_DIR, LEDGER_FILE
from ai_usage_monitor.budgets.seed import add_spend, period_files
from ai_usage_monitor.budgets.status import BudgetStatus, build_status
from ai_usage_monitor.config import Settings
from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.store.day_files import GZ_SUFFIX, read_day_lines

__all__ = ["RecordedSpend", "current_status", "ledger_counters", "recorded_spend"]


def ledger_counters(settings: Settings) -> list[SpendStatus]:
    """Every counter of the settings' ledger; none when the host's ledger file does not exist yet (it is
    not created for a read) or the ledger cannot be read (an internal error: the records answer instead)."""
    if not settings.budget_store and not (settings.records_dir / LEDGER_DIR / LEDGER_FILE).exists():
        return []
    try:
        ledger = open_ledger(settings)
        try:
            return ledger.status()
        finally:
            ledger.close()
    except Exception as exc:
        handle_internal_error("budgets.status", exc)
        return []


@dataclass(slots=True)
class _FileSpend:
    """One daily file's spend per scope value of one budget and period, read up to ``offset``."""

    inode: int
    offset: int = 0
    spend: dict[str, float] = field(default_factory=dict)


_FileKey = tuple[str, tuple[tuple[str, str], ...], float, float, Path]


class RecordedSpend:
    """The spend of a budget's period in the records per scope value, read incrementally per file."""

    def __init__(self, records_dir: Path, tz: tzinfo) -> None:
        self.records_dir = Path(records_dir)
        self.tz = tz
        self._lock = threading.Lock()
        self._files: dict[_FileKey, _FileSpend] = {}
        #: days compressed by retention: (their files' identity, spend), read whole again only when it changes
        self._archived: dict[_FileKey, tuple[tuple[int, ...], dict[str, float]]] = {}

    def __call__(self, budget: Budget, window: PeriodWindow) -> dict[str, float]:
        scope = tuple(sorted(budget.scope.items()))
        total: dict[str, float] = {}
        with self._lock:
            now = time.time()
            for ended in [key for key in self._files if key[3] <= now]:
                del self._files[ended]
            for ended in [key for key in self._archived if key[3] <= now]:
                del self._archived[ended]
            for path in period_files(self.records_dir, window, self.tz):
                part = self._read((budget.name, scope, window.start, window.end, path), budget, window)
                for value, amount in part.items():
                    total[value] = total.get(value, 0.0) + amount
        return total

    def _read(self, key: _FileKey, budget: Budget, window: PeriodWindow) -> dict[str, float]:
        identity = _archive_identity(key[4])
        if identity is not None:
            archived = self._archived.get(key)
            if archived is None or archived[0] != identity:
                spend: dict[str, float] = {}
                add_spend(spend, read_day_lines(key[4]), budget, window)
                archived = self._archived[key] = (identity, spend)
            return archived[1]
        try:
            with key[4].open("rb") as file:
                stat = os.fstat(file.fileno())
                known = self._files.get(key)
                if known is None or known.inode != stat.st_ino or stat.st_size < known.offset:
                    known = self._files[key] = _FileSpend(stat.st_ino)  # new, replaced or cut: from the start
                if stat.st_size > known.offset:
                    file.seek(known.offset)
                    chunk = file.read(stat.st_size - known.offset)
                    complete = chunk.rfind(b"\n") + 1  # a line still being written is read next time
                    add_spend(known.spend, chunk[:complete].splitlines(), budget, window)
                    known.offset += complete
                return known.spend
        except FileNotFoundError:
            self._files.pop(key, None)
            return {}


def _archive_identity(path: Path) -> tuple[int, ...] | None:
    """Inode and size of the day's ``.gz`` and of the plain file beside it; ``None`` without a ``.gz``."""
    try:
        archive = os.stat(path.with_name(path.name + GZ_SUFFIX))
    except FileNotFoundError:
        return None
    try:
        plain = os.stat(path)
    except FileNotFoundError:
        return archive.st_ino, archive.st_size
    return archive.st_ino, archive.st_size, plain.st_ino, plain.st_size


_readers: dict[tuple[Path, str], RecordedSpend] = {}
_readers_lock = threading.Lock()


def recorded_spend(settings: Settings) -> RecordedSpend:
    """The incremental reader of the settings' records folder, shared by every reader in the process."""
    key = (Path(settings.records_dir).resolve(), settings.timezone)
    with _readers_lock:
        reader = _readers.get(key)
        if reader is None:
            reader = _readers[key] = RecordedSpend(settings.records_dir, settings.tz)
        return reader


def current_status(settings: Settings, *, top_n: int, now: float | None = None) -> BudgetStatus:
    """Every configured budget in its current period (``"*"`` budgets: their ``top_n`` values by spend)."""
    if not settings.budgets:
        return BudgetStatus()
    return build_status(
        settings.budgets,
        ledger_counters(settings),
        recorded_spend(settings),
        now=time.time() if now is None else now,
        tz=settings.tz,
        top_n=top_n,
    )
