"""Every question the API, /metrics, the CLI and the Python API ask of the records — in one place.

CONTRACT STUB (written first so the store and its readers can be built side by side): each function
takes the store, a time range and optional filters, and returns plain data. A ClickHouse backend would
implement this same module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ai_usage_monitor.store.index import UsageStore

__all__ = [
    "Dimension",
    "Filters",
    "Summary",
    "TimeRange",
    "cost_trend",
    "duration_histogram",
    "iter_records",
    "latency_by_model",
    "metric_totals",
    "ranking",
    "recent_errors",
    "summarize",
    "token_histogram",
    "unpriced_models",
]

Dimension = Literal["model", "function", "user_id", "anchor_id", "session_id", "provider"]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open range ``[start, end)`` of record timestamps, in Unix seconds."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Filters:
    """Equality filters; ``None`` means any."""

    provider: str | None = None
    model: str | None = None
    function: str | None = None
    user_id: str | None = None
    anchor_id: str | None = None
    session_id: str | None = None


@dataclass(slots=True)
class Summary:
    """Totals over a range. Every call counts, failed ones included; unknown tokens count as 0."""

    calls: int = 0
    successes: int = 0
    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float = 0.0
    avg_duration_ms: float = 0.0
    unpriced_calls: int = 0
    #: name → {"calls", "total_tokens", "input_tokens", "output_tokens", "cost", "success_rate"}
    by_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_function: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return self.calls - self.successes

    @property
    def success_rate(self) -> float:
        """Successes ÷ calls × 100; 100.0 when there were no calls."""
        return 100.0 if self.calls == 0 else self.successes * 100.0 / self.calls


def summarize(store: UsageStore, rng: TimeRange | None, filters: Filters | None = None) -> Summary:
    """Totals and by-model / by-function breakdowns over ``rng`` (``None``: all records)."""
    raise NotImplementedError


def ranking(
    store: UsageStore,
    dimension: Dimension,
    rng: TimeRange | None,
    limit: int,
    filters: Filters | None = None,
) -> list[dict[str, Any]]:
    """Top values of ``dimension`` by cost, highest first; records with a null value are left out.

    Each row: ``{dimension: value, "calls", "tokens", "cost", "success_rate"}``.
    """
    raise NotImplementedError


def cost_trend(store: UsageStore, days: Sequence[date]) -> list[dict[str, Any]]:
    """One row per given calendar day (configured time zone), zeros included:
    ``{"date": "YYYY-MM-DD", "cost", "calls", "tokens"}``."""
    raise NotImplementedError


def unpriced_models(store: UsageStore, rng: TimeRange | None) -> list[dict[str, Any]]:
    """Models with unpriced calls: ``{"provider", "model", "calls", "tokens", "last_seen"}``."""
    raise NotImplementedError


def recent_errors(store: UsageStore, limit: int, rng: TimeRange | None = None) -> list[dict[str, Any]]:
    """Newest failed calls first: ``{"timestamp", "provider", "model", "function", "user_id",
    "anchor_id", "session_id", "error_type", "error_msg"}``."""
    raise NotImplementedError


def latency_by_model(store: UsageStore, rng: TimeRange | None) -> list[dict[str, Any]]:
    """``{"model", "calls", "avg_ms", "p50_ms", "p95_ms"}`` per model, most calls first."""
    raise NotImplementedError


def metric_totals(store: UsageStore, extra_labels: Sequence[Literal["user_id", "anchor_id"]] = ()) -> list[
    dict[str, Any]
]:
    """All-time counters for /metrics, one row per (provider, model, function, status[, extra labels]):
    ``{"provider", "model", "function", "status" ("ok"|"error"), …extra, "requests", "input_tokens",
    "output_tokens", "cached_tokens", "reasoning_tokens", "cost"}``. Null strings come back as ``""``."""
    raise NotImplementedError


def duration_histogram(store: UsageStore, buckets: Sequence[float]) -> list[dict[str, Any]]:
    """All-time ``gen_ai_client_operation_duration_seconds`` data, one row per (operation, provider,
    request model, error_type): ``{"operation", "provider", "model", "error_type", "counts"
    (non-cumulative count per bucket upper bound, plus one for +Inf), "sum", "count"}``."""
    raise NotImplementedError


def token_histogram(store: UsageStore, buckets: Sequence[float]) -> list[dict[str, Any]]:
    """All-time ``gen_ai_client_token_usage`` data per (operation, provider, model, token_type
    ``input``|``output``): same row shape as :func:`duration_histogram` plus ``"token_type"``."""
    raise NotImplementedError


def iter_records(store: UsageStore, rng: TimeRange | None, filters: Filters | None = None) -> Iterator[
    dict[str, Any]
]:
    """The records themselves (as dicts with the JSONL keys), oldest first, for exports."""
    raise NotImplementedError
