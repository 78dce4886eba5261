"""``ClickHouseStore``: the ``Store`` interface over a ClickHouse ``records`` table that shippers fill.

There are no ingest batches to fold forward: an aggregate is computed whole and reused for
``CACHE_SECONDS`` (the dashboard asks every 5 s and Prometheus every 15 s, so each costs one query per
interval, and new records show up within a second). An all-time aggregate (``keep``: the /metrics totals
and histograms, whole-table questions that take seconds on a big table) is then answered from its last
computation while one thread computes it again, so a scrape never waits for it; one older than
``STALE_SECONDS``, or asked while the store is down, is computed in the asker's thread. Totals read
``FINAL``: exact while duplicates still wait for a merge.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from ai_usage_monitor.config import Settings
from ai_usage_monitor.store.backend import Progress
from ai_usage_monitor.store.cache import Fold
from ai_usage_monitor.store.clickhouse.client import (
    MIGRATE_FIRST,
    ClickHouseClient,
    StoreUnavailable,
    error_line,
    is_unavailable,
)
from ai_usage_monitor.store.clickhouse.schema import TTL_MIN_VERSION, apply_retention
from ai_usage_monitor.store.dialect import CLICKHOUSE, Dialect
from ai_usage_monitor.store_url import parse_store_url

__all__ = ["CACHE_SECONDS", "RETENTION_EVERY", "STALE_SECONDS", "TICK_SECONDS", "ClickHouseStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Seconds an aggregate computed by ClickHouse is answered from memory before it is asked again.
CACHE_SECONDS = 1.0
#: An all-time aggregate at most this old is answered while it is computed again in the background.
STALE_SECONDS = 300.0
#: Aggregates kept at most (least recently used dropped first).
MAX_CACHED = 256
#: On a server without TTLs, seconds between two drops of months past the retention (``refresh``).
RETENTION_EVERY = 3600.0
#: Seconds between two ``refresh`` calls of a tailing store.
TICK_SECONDS = 60.0


class ClickHouseStore:
    """Queries answered by ClickHouse; thread-safe (a connection per thread)."""

    mode = "clickhouse"

    def __init__(self, settings: Settings, client: ClickHouseClient, server_version: tuple[int, ...]) -> None:
        self.settings = settings
        self.tz = settings.tz
        self.client = client
        self.server_version = server_version
        self._cache: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._last_refresh: float | None = None
        self._last_retention = 0.0
        self._last_error: str | None = None
        self._tail_thread: threading.Thread | None = None
        self._tail_stop = threading.Event()
        self._closed = False
        #: when the current outage began (``None``: the store answers), to log it once
        self._down_since: float | None = None
        self._outage_lock = threading.Lock()
        #: all-time aggregates to compute again, by key, for the one refresher thread
        self._stale: dict[Hashable, Fold[Any]] = {}
        self._stale_ready = threading.Condition()
        self._refresher: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings) -> ClickHouseStore:
        """Connect to ``settings.store`` and check its ``records`` table; ``StoreUnavailable`` otherwise."""
        assert settings.store
        client = ClickHouseClient(parse_store_url(settings.store))
        try:
            version = client.check()
            found = client.execute(
                "SELECT count() FROM system.tables WHERE database = ? AND name = 'records'", [client.database]
            )
            if not found[0][0]:
                raise StoreUnavailable(
                    f"the ClickHouse store {client.url.redacted} has no records table yet", MIGRATE_FIRST
                )
        except BaseException:
            client.close()
            raise
        return cls(settings, client, version)

    @property
    def dialect(self) -> Dialect:
        return CLICKHOUSE

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """``sql``'s rows; ``StoreUnavailable`` (one line, logged once per outage) when the store is down."""
        try:
            rows = self.client.execute(sql, cast("list[Any] | Mapping[str, Any] | None", params))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            raise self._unreachable(exc) from None
        if self._down_since is not None:
            self._back()
        return rows

    def _unreachable(self, exc: Exception) -> StoreUnavailable:
        error = StoreUnavailable(
            f"the ClickHouse store {self.client.url.redacted} is unreachable: {error_line(exc)}"
        )
        with self._outage_lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
        if first:
            log.warning("%s; answering 503 until it is back", error)
        return error

    def _back(self) -> None:
        with self._outage_lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning(
                "the ClickHouse store %s works again after %.1f s",
                self.client.url.redacted,
                time.monotonic() - since,
            )

    def stream(self, sql: str, params: Any = None) -> Iterator[tuple[Any, ...]]:
        return self.client.stream(sql, cast("list[Any] | Mapping[str, Any] | None", params))

    def incremental(self, key: Hashable, fold: Fold[T], *, keep: bool = True, recomputes: bool = False) -> T:
        """``fold(0, 1, None)``, the whole aggregate, reused for ``CACHE_SECONDS``; a ``keep`` (all-time)
        one then answered while computed again (see the module docstring). ``recomputes`` matters to the
        DuckDB index's folding only."""
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < CACHE_SECONDS:
                self._cache.move_to_end(key)
                return cast(T, hit[1])
        if keep and hit is not None and now - hit[0] < STALE_SECONDS and self._down_since is None:
            self._compute_later(key, fold)
            return cast(T, hit[1])
        value = fold(0, 1, None)
        self._keep(key, now, value)
        return value

    def _keep(self, key: Hashable, computed_at: float, value: Any) -> None:
        with self._cache_lock:
            self._cache[key] = (computed_at, value)
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)

    def _compute_later(self, key: Hashable, fold: Fold[Any]) -> None:
        with self._stale_ready:
            if self._closed:
                return
            self._stale[key] = fold
            if self._refresher is None or not self._refresher.is_alive():
                self._refresher = threading.Thread(
                    target=self._refresh_stale, name="ai-usage-clickhouse-aggregates", daemon=True
                )
                self._refresher.start()
            self._stale_ready.notify()

    def _refresh_stale(self) -> None:
        """Compute the aggregates ``incremental`` answered stale, one at a time, until ``close()``."""
        while True:
            with self._stale_ready:
                while not self._stale and not self._closed:
                    self._stale_ready.wait()
                if self._closed:
                    return
                key = next(iter(self._stale))
                fold = self._stale.pop(key)
            started = time.monotonic()
            try:
                self._keep(key, started, fold(0, 1, None))
            except Exception as exc:  # the next asker past STALE_SECONDS meets it in its own thread
                log.debug("computing a ClickHouse aggregate again failed: %s", exc)

    def expired(self, name: str) -> Any:
        """Nothing: a TTL or a dropped month takes its records out of /metrics' counters too
        (docs/operations.md, "ClickHouse store", retention)."""
        return None

    def refresh(self, progress: Progress | None = None) -> int:
        """Nothing to read (shippers insert); on a server without TTLs, drop months past the retention now
        and then. Returns 0."""
        days = self.settings.index_retention_days
        now = time.time()
        without_ttl = self.server_version < TTL_MIN_VERSION
        if days > 0 and without_ttl and now - self._last_retention >= RETENTION_EVERY:
            self._last_retention = now
            try:
                for line in apply_retention(self.client, self.client.database, days, False, now):
                    log.info("ClickHouse store: %s", line)
            except Exception as exc:
                log.warning("ClickHouse store: dropping months past the retention failed: %s", exc)
        self._last_refresh = now
        return 0

    def start_tailing(self) -> None:
        """Call ``refresh`` every ``TICK_SECONDS`` on a daemon thread (the retention of an old server)."""
        if self._tail_thread is not None and self._tail_thread.is_alive():
            return
        self._tail_stop.clear()
        self._tail_thread = threading.Thread(target=self._tail_loop, name="ai-usage-clickhouse", daemon=True)
        self._tail_thread.start()

    def _tail_loop(self) -> None:
        while not self._tail_stop.wait(TICK_SECONDS):
            self.refresh()

    def stop_tailing(self) -> None:
        self._tail_stop.set()
        thread, self._tail_thread = self._tail_thread, None
        if thread is not None:
            thread.join()

    def _counts(self, _after: int, _upto: int, _previous: object) -> tuple[int, int, float | None]:
        (records, newest), (stored,) = (
            self.query("SELECT count(), max(ts) FROM records FINAL")[0],
            self.query("SELECT count() FROM records")[0],
        )
        return int(records), int(stored) - int(records), (float(newest) if records else None)

    def health(self) -> dict[str, Any]:
        """The ``/health`` shape: records (de-duplicated), and rows still to be merged away as duplicates."""
        records = duplicates = 0
        newest: float | None = None
        status = "closed" if self._closed else "ok"
        if not self._closed:
            try:
                # not ``keep``: /health must see the store as it is now, never an answer kept while it is down
                records, duplicates, newest = self.incremental(("health",), self._counts, keep=False)
                self._last_error = None
            except StoreUnavailable as exc:
                status, self._last_error = "unreachable", str(exc)
            except Exception as exc:
                status, self._last_error = "error", f"{type(exc).__name__}: {error_line(exc)}"
        return {
            "status": status,
            "records_indexed": records,
            "corrupt_lines": 0,
            "duplicate_records": duplicates,
            "pending_partial_lines": 0,
            "files": 0,
            "lag_seconds": None,
            "last_refresh": self._last_refresh,
            "last_record_timestamp": newest,
            "index_path": None,
            "mode": self.mode,
            "tailing": self._tail_thread is not None and self._tail_thread.is_alive(),
            "last_error": self._last_error,
        }

    def close(self) -> None:
        if not self._closed:
            self.stop_tailing()
            with self._stale_ready:
                self._closed = True
                self._stale_ready.notify_all()
            if self._refresher is not None:
                self._refresher.join(timeout=30)
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
