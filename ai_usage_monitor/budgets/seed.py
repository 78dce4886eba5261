"""A period's spend already in the records, so that a restart (or a new ledger) does not reset a budget.

Only the JSONL files of the period's local days are read (one file for an hour or a day, at most 31 for
a month); the ledger runs the read once per budget and period across all processes (``seed_once``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

import orjson

from ai_usage_monitor.budgets.config import Budget, PeriodWindow, scope_value
from ai_usage_monitor.budgets.ledger import Ledger
from ai_usage_monitor.exporter.jsonl import record_file_name
from ai_usage_monitor.store.day_files import read_day_lines

__all__ = ["add_spend", "period_files", "seed_from_records", "spend_in_records"]

logger = logging.getLogger("ai_usage_monitor")


def period_files(records_dir: Path, window: PeriodWindow, tz: tzinfo) -> list[Path]:
    """The daily record files that can hold records of the period (named by local date in ``tz``)."""
    first: date = datetime.fromtimestamp(window.start, tz).date()
    last: date = datetime.fromtimestamp(window.end - 1e-3, tz).date()
    days = (last - first).days + 1
    return [records_dir / record_file_name((first + timedelta(days=i)).isoformat()) for i in range(days)]


def add_spend(spend: dict[str, float], lines: Iterable[bytes], budget: Budget, window: PeriodWindow) -> None:
    """Add the cost of the record ``lines`` in the period to ``spend`` per scope value (bad lines skipped)."""
    for line in lines:
        try:
            record = orjson.loads(line)
            if not window.start <= record["timestamp"] < window.end:
                continue
            cost = float(record.get("cost") or 0.0)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        value = scope_value(budget, record)
        if value is not None and cost:
            spend[value] = spend.get(value, 0.0) + cost


def spend_in_records(records_dir: Path, tz: tzinfo, budget: Budget, window: PeriodWindow) -> dict[str, float]:
    """The cost of the period's records per scope value of ``budget`` (unreadable lines are skipped)."""
    spend: dict[str, float] = {}
    for path in period_files(Path(records_dir), window, tz):
        add_spend(spend, read_day_lines(path), budget, window)
    return spend


def seed_from_records(
    ledger: Ledger, budget: Budget, window: PeriodWindow, records_dir: Path, tz: tzinfo
) -> bool:
    """Count the period's recorded spend in the ledger unless a process did already (``True``: this did)."""
    seeded = ledger.seed_once(budget.name, window, lambda: spend_in_records(records_dir, tz, budget, window))
    if seeded:
        logger.debug("ai-usage-monitor: budget %r seeded for %s from the records", budget.name, window.label)
    return seeded
