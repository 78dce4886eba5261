"""Reading records back: an incremental index over the JSONL files (or a ClickHouse store, ``open_store``)
and every query asked of it."""

from __future__ import annotations

from ai_usage_monitor.store.backend import Store, open_store
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import Dimension, Filters, Summary, TimeRange
from ai_usage_monitor.store.reports import build_report, write_report
from ai_usage_monitor.store.summaries import UsageSummary

__all__ = [
    "Dimension",
    "Filters",
    "Store",
    "Summary",
    "TimeRange",
    "UsageStore",
    "UsageSummary",
    "build_report",
    "open_store",
    "write_report",
]
