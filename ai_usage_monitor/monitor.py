"""``get_usage_monitor()``: the original usage doc's Python queries over the record index.

See docs/architecture.md §5.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ai_usage_monitor.config import Settings
from ai_usage_monitor.state import resolve_settings
from ai_usage_monitor.store import reports, summaries
from ai_usage_monitor.store.backend import Store, open_store
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import Filters
from ai_usage_monitor.store.summaries import UsageSummary

__all__ = ["UsageMonitor", "UsageSummary", "get_usage_monitor"]

#: In-memory indexes of processes that found the index file held by another process (e.g. a running
#: ``ai-usage-monitor serve``), kept so they are built once per records folder and time zone.
_memory_stores: dict[tuple[str, str], UsageStore] = {}
_memory_lock = threading.Lock()


class UsageMonitor:
    """Answers over every record in ``settings.records_dir`` (or the ClickHouse ``store``); each call first
    reads what was appended.

    The index file is opened for each call and closed after it, so a monitor never keeps a server that
    starts later from owning the index; while another process owns it, a shared in-memory index is used.
    """

    def __init__(self, settings: Settings, filters: Filters | None = None) -> None:
        self.settings = settings
        #: what every answer is limited to (one service, one host), ``None``: every record
        self.filters = filters

    @contextlib.contextmanager
    def _store(self) -> Iterator[Store]:
        if self.settings.store:  # ClickHouse: a connection for the call
            with open_store(self.settings) as remote:
                yield remote
            return
        key = (str(Path(self.settings.records_dir).resolve()), self.settings.timezone)
        with _memory_lock:
            store = _memory_stores.get(key)
        owned = store is None
        if store is None:
            store = UsageStore(self.settings)
            if store.mode == "memory":
                with _memory_lock:
                    shared = _memory_stores.setdefault(key, store)
                if shared is not store:
                    store.close()
                store, owned = shared, False
        try:
            store.refresh()
            yield store
        finally:
            if owned:
                store.close()

    def get_session_stats(self, session_id: str) -> dict[str, Any]:
        """``calls``, ``tokens``, ``cost`` (and more) of every call of one session."""
        with self._store() as store:
            return summaries.session_stats(store, session_id, self.filters)

    def get_hourly_summary(self, hours_ago: int = 0) -> UsageSummary:
        with self._store() as store:
            return summaries.hourly_summary(store, hours_ago, filters=self.filters)

    def get_daily_summary(self, days_ago: int = 0) -> UsageSummary:
        with self._store() as store:
            return summaries.daily_summary(store, days_ago, filters=self.filters)

    def get_monthly_summary(self, year: int | None = None, month: int | None = None) -> UsageSummary:
        with self._store() as store:
            return summaries.monthly_summary(store, year, month, filters=self.filters)

    def get_current_stats(self) -> dict[str, Any]:
        """The current clock hour and today (the ``/stats/current`` shape)."""
        with self._store() as store:
            return summaries.current_stats(store, filters=self.filters)

    def get_top_users(self, limit: int = 100, days: int = 30) -> list[dict[str, Any]]:
        """Users by cost over the ``days`` days ending today: dicts with ``user_id, calls, tokens, cost``."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        with self._store() as store:
            return summaries.top_users(store, limit, days, filters=self.filters)

    def get_cost_trend(self, days: int = 7) -> list[dict[str, Any]]:
        """``{"date", "cost", …}`` for each of the ``days`` days ending today (0 on days without calls)."""
        with self._store() as store:
            return summaries.cost_trend_days(store, days, filters=self.filters)

    def export_report(self, output_path: Path | str | None = None, days: int = 30) -> Path:
        """Write a JSON (or, for a ``.csv`` path, CSV) report of the last ``days`` days; returns its path."""
        with self._store() as store:
            report = reports.build_report(store, days, filters=self.filters)
        if output_path is None:
            output_path = reports.new_report_path(self.settings.reports_path, tz=self.settings.tz)
        return reports.write_report(report, Path(output_path))

    def get_forecast(self, scope: str = "all") -> dict[str, Any]:
        """Expected spend at month end and today with an 80% band, for the team (``scope="all"``) or also
        per ``model``, ``function`` or ``anchor`` (the ``/forecast`` shape); over every record, whatever
        the monitor's ``service`` or ``host``."""
        from ai_usage_monitor.insights.report import build_forecast

        with self._store() as store:
            return build_forecast(store, scope)

    def health(self) -> dict[str, Any]:
        with self._store() as store:
            return store.health()


def get_usage_monitor(
    records_dir: Path | str | None = None,
    timezone: str | None = None,
    store: str | None = None,
    *,
    service: str | None = None,
    host: str | None = None,
) -> UsageMonitor:
    """A monitor over ``records_dir`` (or the ClickHouse ``store`` URL) in ``timezone``; unset ones come
    from the last ``instrument()`` call, else the environment (``AI_USAGE_*``), else the defaults. With
    ``service`` or ``host`` its answers count only that app's or that machine's calls (not the forecast)."""
    filters = Filters(service=service, host=host) if service or host else None
    settings = resolve_settings(records_dir=records_dir, timezone=timezone, store=store)
    return UsageMonitor(settings, filters)
