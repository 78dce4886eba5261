"""A prometheus_client ``Collector`` that computes every metric of DESIGN §7 from the record index at scrape
time, so the numbers cover every process's records, survive restarts and agree with the REST API.

Per-user / per-anchor labels (when enabled) are capped at the top N values by all-time cost, the rest
folded into ``other``. The top N changes while the server runs, yet a counter must never go down, so a
value, once given its own label, keeps it until the server stops (at most 2×N values get one; after that
newcomers stay in ``other`` until a restart), and a value promoted after the first scrape counts under its
own label from that scrape on: what it had used before stays in ``other``, which therefore never shrinks.
Every counter only grows and the sum over all label values always equals the all-time total.

The all-time families are built again only when new records were indexed (right after the ingest, for a
collector scraped lately), and ``exposition`` reuses their text until then: a scrape formats only the gauges.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ai_usage_monitor.exporter.drops import DROP_REASONS, DropTotals, read_ledgers
from ai_usage_monitor.store.periods import day_range, month_range
from ai_usage_monitor.store.queries import (
    duration_histogram,
    metric_totals,
    summarize,
    token_histogram,
    unpriced_models,
)

if TYPE_CHECKING:
    from ai_usage_monitor.store.index import UsageStore

__all__ = [
    "DURATION_BUCKETS",
    "OTHER",
    "TOKEN_BUCKETS",
    "StickyTopN",
    "UsageCollector",
    "exposition",
]

#: OpenTelemetry GenAI advice: 0.01 s doubling to 81.92 s, and 1 token ×4 up to 4^13.
DURATION_BUCKETS: tuple[float, ...] = tuple(round(0.01 * 2**i, 2) for i in range(14))
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))

OTHER = "other"
BASE_LABELS = ("provider", "model", "function", "status")
#: The order of the values kept per row, as ``metric_totals`` names them.
VALUE_KEYS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cost")
TOKEN_TYPES = ("input", "output", "cached", "reasoning")
HISTOGRAM_LABELS = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")

ExtraLabel = Literal["user_id", "anchor_id"]
Values = tuple[float, ...]


class StickyTopN:
    """Folds the values of the extra label dimensions outside a sticky top N into ``other``.

    ``fold`` takes raw rows (all label values → counter values) and returns the exposed rows, keeping
    each exposed counter monotonic and the column sums equal to the raw sums (see the module docstring).
    """

    def __init__(self, dims: Sequence[str], top_n: int, *, rank_index: int) -> None:
        self.dims = tuple(dims)
        self.top_n = top_n
        self.capacity = 2 * top_n
        self.rank_index = rank_index
        self._promoted: dict[str, set[str]] = {d: set() for d in self.dims}
        self._folded_once = False
        self._start: dict[tuple[str, ...], Values] = {}
        self._frozen: dict[tuple[str, ...], list[float]] = {}

    def promoted(self, dim: str) -> frozenset[str]:
        return frozenset(self._promoted[dim])

    def fold(
        self, rows: Mapping[tuple[str, ...], Values], dim_positions: Sequence[int]
    ) -> dict[tuple[str, ...], list[float]]:
        """``rows`` keys hold the extra dims at ``dim_positions`` (in ``self.dims`` order)."""
        before = {d: set(values) for d, values in self._promoted.items()}
        for dim, pos in zip(self.dims, dim_positions, strict=True):
            self._promote(dim, self._top_values(rows, pos))
        exposed: dict[tuple[str, ...], list[float]] = {k: list(v) for k, v in self._frozen.items()}
        for key, values in rows.items():
            new_key = self._fold_key(key, dim_positions, self._promoted)
            if self._folded_once:
                old_key = self._fold_key(key, dim_positions, before)
                if old_key != new_key:
                    # The row changes series: what it had counted stays, frozen, in the old one.
                    _add(self._frozen.setdefault(old_key, [0.0] * len(values)), values, self._start.get(key))
                    _add(exposed.setdefault(old_key, [0.0] * len(values)), values, self._start.get(key))
                    self._start[key] = values
            _add(exposed.setdefault(new_key, [0.0] * len(values)), values, self._start.get(key))
        self._folded_once = True
        return exposed

    def _top_values(self, rows: Mapping[tuple[str, ...], Values], pos: int) -> list[str]:
        totals: dict[str, tuple[float, float]] = {}
        for key, values in rows.items():
            value = key[pos]
            if value:
                cost, calls = totals.get(value, (0.0, 0.0))
                totals[value] = (cost + values[self.rank_index], calls + values[0])
        ranked = sorted(totals, key=lambda v: (-totals[v][0], -totals[v][1], v))
        return ranked[: self.top_n]

    def _promote(self, dim: str, top: list[str]) -> None:
        promoted = self._promoted[dim]
        for value in top:
            if len(promoted) >= self.capacity:
                break
            promoted.add(value)

    def _fold_key(
        self, key: tuple[str, ...], dim_positions: Sequence[int], promoted: Mapping[str, set[str]]
    ) -> tuple[str, ...]:
        folded = list(key)
        for dim, pos in zip(self.dims, dim_positions, strict=True):
            if folded[pos] and folded[pos] not in promoted[dim]:
                folded[pos] = OTHER
        return tuple(folded)


def _add(target: list[float], values: Values, start: Values | None) -> None:
    for i, value in enumerate(values):
        target[i] += value - (start[i] if start is not None else 0.0)


class UsageCollector(Collector):
    """Every metric of DESIGN §7, computed from ``store`` at each scrape."""

    def __init__(self, store: UsageStore) -> None:
        self.store = store
        settings = store.settings
        self.currency = settings.currency
        extra: list[ExtraLabel] = []
        if settings.metrics_user_labels:
            extra.append("user_id")
        if settings.metrics_anchor_labels:
            extra.append("anchor_id")
        self.extra = tuple(extra)
        self._folder = (
            StickyTopN(self.extra, settings.metrics_label_top_n, rank_index=VALUE_KEYS.index("cost"))
            if self.extra
            else None
        )
        self._lock = threading.Lock()
        self._families_key = ("metric_families", object())
        self._drops = DropTotals()

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        counters, histograms = self.store.incremental(
            self._families_key, self._all_time_families, keep=False, recomputes=True
        )
        return [*counters, *self._gauges(), self._dropped(), *histograms]

    def _all_time_families(self, _after: int, _upto: int, _previous: object) -> tuple[list[Metric], ...]:
        """The families that change only when records are indexed (rebuilt from cached aggregates), their
        text rendered here: after an ingest rather than at the next scrape."""
        with self._lock:  # the label folding keeps state
            families = [*self._counters(), *self._unpriced()], self._histograms()
        for family in (*families[0], *families[1]):
            _text(family)
        return families

    def _counter_rows(self) -> dict[tuple[str, ...], list[float]]:
        labels = (*BASE_LABELS, *self.extra)
        rows = {
            tuple(str(row.get(name) or "") for name in labels): tuple(float(row[k] or 0) for k in VALUE_KEYS)
            for row in metric_totals(self.store, self.extra)
        }
        if self._folder is None:
            return {key: list(values) for key, values in rows.items()}
        positions = [len(BASE_LABELS) + i for i in range(len(self.extra))]
        return self._folder.fold(rows, positions)

    def _counters(self) -> list[Metric]:
        labels = [*BASE_LABELS, *self.extra]
        requests = CounterMetricFamily(
            "ai_usage_requests", "LLM calls recorded, failed ones included", labels=labels
        )
        tokens = CounterMetricFamily(
            "ai_usage_tokens",
            "Tokens by type (input includes cached, output includes reasoning)",
            labels=[*labels, "type"],
        )
        cost = CounterMetricFamily("ai_usage_cost", "Cost of the calls", labels=[*labels, "currency"])
        for key, values in sorted(self._counter_rows().items()):
            label_values = list(key)
            requests.add_metric(label_values, values[0])
            for token_type, amount in zip(TOKEN_TYPES, values[1:5], strict=True):
                tokens.add_metric([*label_values, token_type], amount)
            cost.add_metric([*label_values, self.currency], values[5])
        return [requests, tokens, cost]

    def _unpriced(self) -> list[Metric]:
        family = CounterMetricFamily(
            "ai_usage_unpriced_requests",
            "Calls of models with no known price (their cost counts as 0)",
            labels=["provider", "model"],
        )
        for row in unpriced_models(self.store, None):
            family.add_metric([row["provider"] or "", row["model"] or ""], float(row["calls"]))
        return [family]

    def _gauges(self) -> list[Metric]:
        tz = self.store.tz
        now = datetime.now(tz)
        health = self.store.health()
        today = summarize(self.store, day_range(tz, 0, now)[0])
        month = summarize(self.store, month_range(tz, now.year, now.month))
        metrics: list[Metric] = [
            _gauge(
                "ai_usage_cost_today", "Cost so far in the current calendar day", today.cost, self.currency
            ),
            _gauge(
                "ai_usage_cost_month", "Cost so far in the current calendar month", month.cost, self.currency
            ),
            GaugeMetricFamily(
                "ai_usage_store_records_indexed",
                "Records the store has indexed",
                value=float(health["records_indexed"]),
            ),
            CounterMetricFamily(
                "ai_usage_store_corrupt_lines",
                "Record lines skipped because they could not be parsed",
                value=float(health["corrupt_lines"]),
            ),
        ]
        last = health.get("last_record_timestamp")
        if last is not None:
            metrics.append(
                GaugeMetricFamily(
                    "ai_usage_last_record_timestamp_seconds",
                    "Start time of the newest indexed record",
                    value=float(last),
                )
            )
        lag = health.get("lag_seconds")
        if lag is not None:
            metrics.append(
                GaugeMetricFamily(
                    "ai_usage_store_lag_seconds", "How far the index is behind the record files", value=lag
                )
            )
        return metrics

    def _dropped(self) -> Metric:
        """Drops from the writers' ledgers; a process's count is kept if its ledger is deleted."""
        totals = self._drops.observe(read_ledgers(self.store.settings.records_dir).items())
        family = CounterMetricFamily(
            "ai_usage_records_dropped",
            "Usage records not written: write_failed (full disk, unwritable folder) or invalid (bad numbers)",
            labels=["reason"],
        )
        for reason in DROP_REASONS:
            family.add_metric([reason], float(totals[reason]))
        return family

    def _histograms(self) -> list[Metric]:
        duration = HistogramMetricFamily(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration",
            labels=[*HISTOGRAM_LABELS, "error_type"],
        )
        for row in duration_histogram(self.store, DURATION_BUCKETS):
            labels = [row["operation"], row["provider"], row["model"], row["error_type"]]
            _add_histogram(duration, labels, DURATION_BUCKETS, row)
        usage = HistogramMetricFamily(
            "gen_ai_client_token_usage",
            "Tokens used per GenAI operation",
            labels=[*HISTOGRAM_LABELS, "gen_ai_token_type"],
        )
        for row in token_histogram(self.store, TOKEN_BUCKETS):
            labels = [row["operation"], row["provider"], row["model"], row["token_type"]]
            _add_histogram(usage, labels, TOKEN_BUCKETS, row)
        return [duration, usage]


def exposition(registry: Collector) -> bytes:
    """``generate_latest(registry)``, reusing the text of a family collected again unchanged: the very same
    object, as ``UsageCollector`` hands out its all-time families until new records are indexed."""
    return b"".join(_text(metric) for metric in registry.collect())


class _Family(Collector):
    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self.metric]


def _text(metric: Metric) -> bytes:
    text: bytes | None = getattr(metric, "_ai_usage_text", None)
    if text is None:
        text = generate_latest(_Family(metric))
        metric._ai_usage_text = text  # type: ignore[attr-defined]
    return text


def _gauge(name: str, documentation: str, value: float, currency: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["currency"])
    family.add_metric([currency], value)
    return family


def _add_histogram(
    family: HistogramMetricFamily, labels: list[Any], bounds: Sequence[float], row: Mapping[str, Any]
) -> None:
    cumulative = 0
    buckets: list[tuple[str, float]] = []
    for bound, count in zip([*map(floatToGoString, bounds), "+Inf"], row["counts"], strict=True):
        cumulative += int(count)
        buckets.append((bound, float(cumulative)))
    family.add_metric([str(v or "") for v in labels], buckets, float(row["sum"] or 0.0))
