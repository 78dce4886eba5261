"""The one interface every reader of the records uses (queries, API, /metrics, CLI, Python API), and
``open_store``, which picks its implementation from the ``store`` setting: the local DuckDB index
(``index.UsageStore``, the default) or ClickHouse (``clickhouse.store.ClickHouseStore``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import tzinfo
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from ai_usage_monitor.config import Settings, SettingsError
from ai_usage_monitor.config_errors import setting_origin
from ai_usage_monitor.store.cache import Fold
from ai_usage_monitor.store.dialect import Dialect

__all__ = ["Progress", "Store", "open_store"]

T = TypeVar("T")
#: ``progress(done_bytes, total_bytes)`` during a refresh.
Progress = Callable[[int, int], None]


class Store(Protocol):
    """Where the records are queried. Thread-safe."""

    settings: Settings
    tz: tzinfo
    #: ``"file"``, ``"memory"``, ``"read_only"`` (DuckDB) or ``"clickhouse"``
    mode: str

    @property
    def dialect(self) -> Dialect:
        """The SQL spelling ``queries.py`` uses for this engine."""
        ...

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Every row of ``sql`` (``?`` or ``$name`` parameters)."""
        ...

    def stream(self, sql: str, params: Any = None) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` read lazily, for exports of any size."""
        ...

    def incremental(self, key: Hashable, fold: Fold[T], *, keep: bool = True, recomputes: bool = False) -> T:
        """An aggregate cached under ``key``, kept current by ``fold`` (see ``UsageStore.incremental``)."""
        ...

    def refresh(self, progress: Progress | None = None) -> int:
        """Take in what was written since the last refresh; returns how many records were added."""
        ...

    def expired(self, name: str) -> Any:
        """What records dropped by retention had added to the /metrics counter aggregate ``name`` (kept so
        that counters never go down); ``None`` when none is kept."""
        ...

    def start_tailing(self) -> None: ...

    def stop_tailing(self) -> None: ...

    def health(self) -> dict[str, Any]:
        """The store's state for ``/health`` and ``/metrics``."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def open_store(
    settings: Settings, *, read_only: bool = False, given: Mapping[str, str] | None = None
) -> Store:
    """The store the settings name: ClickHouse when ``store`` is a URL, else the DuckDB index. A ClickHouse
    store that cannot be used raises ``SettingsError``: one line naming where the setting came from
    (``given``: settings given explicitly → how, e.g. ``{"store": "option --store"}``), no password."""
    if settings.store:
        from ai_usage_monitor.store.clickhouse.client import StoreUnavailable
        from ai_usage_monitor.store.clickhouse.store import ClickHouseStore

        try:
            return ClickHouseStore.open(settings)
        except StoreUnavailable as exc:
            origin = setting_origin("store", given)
            fix = (
                exc.fix
                or f"{origin.fix}, or check that ClickHouse runs there and the user and password are right"
            )
            raise SettingsError(f"{exc}; the store setting comes from {origin.where}. Fix: {fix}") from None
    from ai_usage_monitor.store.index import UsageStore

    return UsageStore(settings, read_only=read_only)
