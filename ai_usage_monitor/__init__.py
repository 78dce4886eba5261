"""ai-usage-monitor: what every LLM API call costs — tokens, money, time, errors.

``ai_usage_monitor.instrument()`` at start-up records every OpenAI and DashScope call; the rest of the
public API attributes, records by hand, and reads the records back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ai_usage_monitor.budgets.exceeded import BudgetExceeded
from ai_usage_monitor.config import Settings
from ai_usage_monitor.context import usage_context
from ai_usage_monitor.decorator import track_ai_usage
from ai_usage_monitor.instrumentation import instrument, uninstrument
from ai_usage_monitor.recorder import record_ai_usage
from ai_usage_monitor.records import UsageRecord

if TYPE_CHECKING:
    from ai_usage_monitor.monitor import UsageMonitor

__all__ = [
    "BudgetExceeded",
    "Settings",
    "UsageRecord",
    "get_usage_monitor",
    "instrument",
    "record_ai_usage",
    "track_ai_usage",
    "uninstrument",
    "usage_context",
]

__version__ = "0.1.0"


def get_usage_monitor(
    records_dir: Any = None,
    timezone: str | None = None,
    store: str | None = None,
    *,
    service: str | None = None,
    host: str | None = None,
) -> UsageMonitor:
    """Query the records (docs/architecture.md §5), or the ClickHouse ``store`` URL, optionally of one
    ``service`` or ``host`` only; lazy, so instrumented apps never load the store."""
    from ai_usage_monitor.monitor import get_usage_monitor as _get

    return _get(records_dir=records_dir, timezone=timezone, store=store, service=service, host=host)
