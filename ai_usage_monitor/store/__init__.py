"""Reading records back: an incremental index over the JSONL files and every query asked of it."""

from __future__ import annotations

from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import Dimension, Filters, Summary, TimeRange
from ai_usage_monitor.store.reports import build_report, write_report
from ai_usage_monitor.store.summaries import UsageSummary

__all__ = [
    "Dimension",
    "Filters",
    "Summary",
    "TimeRange",
    "UsageStore",
    "UsageSummary",
    "build_report",
    "write_report",
]
