"""The few places where DuckDB's and ClickHouse's SQL differ, so ``queries.py`` writes each query once.

Both engines get the same query text apart from these pieces; parameters stay DuckDB-style (``?`` and
``$name``), which the ClickHouse client inlines as literals (``clickhouse/client.py``'s ``bind``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["CLICKHOUSE", "CLICKHOUSE_DAY_KEY", "DUCKDB", "Dialect", "utc_day"]

#: The UTC day of ``ts`` as the ClickHouse table's sorting key starts with it. Its index is used only for
#: conditions on this very expression (old servers infer nothing from ``ts`` ranges), so time-range queries
#: add one (``Dialect.day_key``).
CLICKHOUSE_DAY_KEY = "toDate(toDateTime(toUInt32(ts), 'UTC'))"
#: The last second ``toUInt32(ts)`` holds.
_UINT32_MAX = 2**32 - 1


def utc_day(ts: float) -> str:
    """``YYYY-MM-DD`` of ``ts`` in UTC (clamped to what ``toUInt32`` holds), for ``day_key`` bounds."""
    return datetime.fromtimestamp(min(max(ts, 0.0), _UINT32_MAX), UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class Dialect:
    """One engine's spelling of the pieces that differ."""

    name: str
    #: the table expression of ``FROM``: ClickHouse reads ``FINAL`` so a record shipped twice counts once
    records: str
    true: str
    false: str
    #: whether rows carry the ingest ``batch`` they came in (DuckDB); without it a fold reads every row
    batches: bool
    #: a sorting-key expression a time range is also bounded by, so the engine's index skips other days
    day_key: str | None = None

    def count_if(self, condition: str) -> str:
        """How many rows of the group meet ``condition``."""
        if self.name == "clickhouse":
            return f"countIf({condition})"
        return f"count(*) FILTER (WHERE {condition})"

    def quantile(self, value: str, level: float) -> str:
        """The ``level`` quantile of ``value``, interpolated between the two nearest values."""
        if self.name == "clickhouse":
            return f"quantile({level!r})({value})"
        return f"quantile_cont({value}, {level!r})"

    def quantiles(self, value: str, levels: Sequence[float]) -> str:
        """An array of the ``levels`` quantiles of ``value`` (see ``quantile``)."""
        if self.name == "clickhouse":
            return f"quantiles({', '.join(map(repr, levels))})({value})"
        return f"quantile_cont({value}, [{', '.join(map(repr, levels))}])"

    def has_tag(self, column: str) -> str:
        """True when the array ``column`` holds the one ``tag_entry`` bound to ``?``."""
        if self.name == "clickhouse":
            return f"has({column}, ?)"
        return f"list_contains({column}, ?)"

    @property
    def new_rows(self) -> str:
        """The rows of ingest batches ``($after, $upto]`` (ClickHouse has no batches: every row)."""
        return "batch > $after AND batch <= $upto" if self.batches else "1 = 1"


DUCKDB = Dialect(name="duckdb", records="records", true="true", false="false", batches=True)
#: ClickHouse 18.16 and current releases alike: no ``true`` literal, no ``FILTER``, no ``GROUP BY ALL``.
CLICKHOUSE = Dialect(
    name="clickhouse",
    records="records FINAL",
    true="1",
    false="0",
    batches=False,
    day_key=CLICKHOUSE_DAY_KEY,
)
