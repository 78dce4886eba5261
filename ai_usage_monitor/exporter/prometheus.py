"""A prometheus_client ``Collector`` that computes every metric of docs/architecture.md §7 from the record
index at scrape time, so the numbers cover every process's records, survive restarts and agree with the
REST API.

Every label whose values come from the records (provider, model, function, operation, error type, and
user / anchor when enabled) is bounded, so a flood of distinct names cannot flood a scrape: a value is cut
to ``bounds.NAME_MAX_CHARS`` (a long one keeps a short hash of the whole, so distinct names stay apart), and
only the top N values by all-time cost (then calls) get their own label, the rest folded into ``other``.
The top N changes while the server runs, yet a counter must never go down, so a value, once given its own
label, keeps it until the server stops (at most 2×N values per label get one; after that newcomers stay
in ``other`` until a restart), and a value promoted after the first scrape counts under its own label from
that scrape on: what it had used before stays in ``other``, which therefore never shrinks. Every counter
only grows and the sum over all label values always equals the all-time total. The families share one
set of promoted values per label, so a model has its own series in the counters and histograms alike.

The all-time families are built again only when new records were indexed (right after the ingest, for a
collector scraped lately), and ``exposition`` reuses their text until then: a scrape formats only the gauges.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ai_usage_monitor.bounds import NAME_MAX_CHARS, OTHER, cut
from ai_usage_monitor.budgets.current import current_status
from ai_usage_monitor.budgets.status import warning_ratio
from ai_usage_monitor.exporter.drops import DROP_REASONS, DropTotals, read_ledgers
from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.store.buckets import DURATION_BUCKETS, TOKEN_BUCKETS
from ai_usage_monitor.store.periods import day_range, month_range
from ai_usage_monitor.store.queries import (
    duration_histogram,
    metric_totals,
    summarize,
    token_histogram,
    unpriced_models,
)

if TYPE_CHECKING:
    from ai_usage_monitor.budgets.config import Budget
    from ai_usage_monitor.budgets.status import BudgetStatus
    from ai_usage_monitor.store.backend import Store

__all__ = [
    "DURATION_BUCKETS",
    "OTHER",
    "TOKEN_BUCKETS",
    "Promotions",
    "StickyTopN",
    "UsageCollector",
    "budget_families",
    "exposition",
]


BASE_LABELS = ("provider", "model", "function", "status")
#: The order of the values kept per row, as ``metric_totals`` names them.
VALUE_KEYS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cost")
TOKEN_TYPES = ("input", "output", "cached", "reasoning")
HISTOGRAM_LABELS = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
#: the histogram rows' names for ``HISTOGRAM_LABELS``
_HISTOGRAM_DIMS = ("operation", "provider", "model")

ExtraLabel = Literal["user_id", "anchor_id"]
Values = tuple[float, ...]


class Promotions:
    """The values of each label dimension that have their own label: the sticky top N (at most 2×N)."""

    def __init__(self, top_n: int) -> None:
        self.top_n = top_n
        self.capacity = 2 * top_n
        self._values: dict[str, set[str]] = {}

    def of(self, dim: str) -> set[str]:
        return self._values.setdefault(dim, set())

    def promote(self, dim: str, ranked: Sequence[str]) -> None:
        """Give the first ``top_n`` of ``ranked`` (best first) a label, while there is room."""
        promoted = self.of(dim)
        for value in ranked[: self.top_n]:
            if len(promoted) >= self.capacity:
                break
            promoted.add(value)


class StickyTopN:
    """Folds the values of some label dimensions outside a sticky top N into ``other``, for one family.

    ``fold`` takes raw rows (all label values → counter values) and returns the exposed rows, keeping
    each exposed counter monotonic and the column sums equal to the raw sums (see the module docstring).
    ``ranks``: the dimensions this family's rows rank (by ``rank_index``, then by the first value, the
    calls); the others follow what other families sharing ``promotions`` ranked.
    """

    def __init__(
        self,
        dims: Sequence[str],
        top_n: int,
        *,
        rank_index: int,
        promotions: Promotions | None = None,
        ranks: Sequence[str] | None = None,
    ) -> None:
        self.dims = tuple(dims)
        self.promotions = promotions or Promotions(top_n)
        self.ranks = frozenset(self.dims if ranks is None else ranks)
        self.rank_index = rank_index
        #: the promoted values of each dimension as of this family's previous fold
        self._seen: dict[str, set[str]] = {d: set() for d in self.dims}
        self._folded_once = False
        self._start: dict[tuple[str, ...], Values] = {}
        self._frozen: dict[tuple[str, ...], list[float]] = {}

    def fold(
        self, rows: Mapping[tuple[str, ...], Values], dim_positions: Sequence[int]
    ) -> dict[tuple[str, ...], list[float]]:
        """``rows`` keys hold the dims at ``dim_positions`` (in ``self.dims`` order)."""
        before = self._seen
        for dim, pos in zip(self.dims, dim_positions, strict=True):
            if dim in self.ranks:
                self.promotions.promote(dim, self._top_values(rows, pos))
        after = {d: self.promotions.of(d) for d in self.dims}
        moved = self._folded_once and after != before  # else no row changes series
        exposed: dict[tuple[str, ...], list[float]] = {k: list(v) for k, v in self._frozen.items()}
        for key, values in rows.items():
            new_key = self._fold_key(key, dim_positions, after)
            if moved:
                old_key = self._fold_key(key, dim_positions, before)
                if old_key != new_key:
                    # The row changes series: what it had counted stays, frozen, in the old one.
                    _add(self._frozen.setdefault(old_key, [0.0] * len(values)), values, self._start.get(key))
                    _add(exposed.setdefault(old_key, [0.0] * len(values)), values, self._start.get(key))
                    self._start[key] = values
            _add(exposed.setdefault(new_key, [0.0] * len(values)), values, self._start.get(key))
        self._folded_once = True
        self._seen = {d: set(values) for d, values in after.items()}
        return exposed

    def _top_values(self, rows: Mapping[tuple[str, ...], Values], pos: int) -> list[str]:
        totals: dict[str, tuple[float, float]] = {}
        for key, values in rows.items():
            value = key[pos]
            if value:
                rank, calls = totals.get(value, (0.0, 0.0))
                totals[value] = (rank + values[self.rank_index], calls + values[0])
        return heapq.nsmallest(self.promotions.top_n, totals, key=lambda v: (-totals[v][0], -totals[v][1], v))

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
    """Every metric of docs/architecture.md §7, computed from ``store`` at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store
        settings = store.settings
        self.currency = settings.currency
        extra: list[ExtraLabel] = []
        if settings.metrics_user_labels:
            extra.append("user_id")
        if settings.metrics_anchor_labels:
            extra.append("anchor_id")
        self.extra = tuple(extra)
        top_n = settings.metrics_label_top_n
        shared = Promotions(top_n)
        self._counter_folder = StickyTopN(
            ("provider", "model", "function", *self.extra),
            top_n,
            rank_index=VALUE_KEYS.index("cost"),
            promotions=shared,
        )
        # the histograms follow the counters' providers and models; operations and error types are theirs
        self._duration_folder = StickyTopN(
            (*_HISTOGRAM_DIMS, "error_type"),
            top_n,
            rank_index=0,
            promotions=shared,
            ranks=("operation", "error_type"),
        )
        self._token_folder = StickyTopN(_HISTOGRAM_DIMS, top_n, rank_index=0, promotions=shared, ranks=())
        # unpriced models cost nothing: ranked by their own calls, apart from the cost ranking
        self._unpriced_folder = StickyTopN(("provider", "model"), top_n, rank_index=0)
        self._lock = threading.Lock()
        self._families_key = ("metric_families", object())
        self._drops = DropTotals()

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        counters, histograms = self.store.incremental(
            self._families_key, self._all_time_families, keep=False, recomputes=True
        )
        return [*counters, *self._gauges(), *self._budgets(), self._dropped(), *histograms]

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
        rows = _cut_rows(
            (
                tuple(str(row.get(name) or "") for name in labels),
                tuple(_steady(row[k]) for k in VALUE_KEYS),
            )
            for row in metric_totals(self.store, self.extra)
        )
        return self._counter_folder.fold(rows, [labels.index(dim) for dim in self._counter_folder.dims])

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
        rows = _cut_rows(
            ((row["provider"] or "", row["model"] or ""), (float(row["calls"]),))
            for row in unpriced_models(self.store, None)
        )
        for labels, (calls,) in sorted(self._unpriced_folder.fold(rows, [0, 1]).items()):
            family.add_metric(list(labels), calls)
        return [family]

    def _gauges(self) -> list[Metric]:
        tz = self.store.tz
        now = datetime.now(tz)
        health = self.store.health()
        today = summarize(self.store, day_range(tz, 0, now)[0], breakdowns=False)
        month = summarize(self.store, month_range(tz, now.year, now.month), breakdowns=False)
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

    def _budgets(self) -> list[Metric]:
        """The budgets' gauges (none without ``[[budgets]]``); a failure drops them from this scrape only."""
        settings = self.store.settings
        if not settings.budgets:
            return []
        try:
            status = current_status(settings, top_n=settings.metrics_label_top_n)
        except Exception as exc:
            handle_internal_error("metrics.budgets", exc)
            return []
        return budget_families(settings.budgets, status, self.currency)

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
        rows = duration_histogram(self.store, DURATION_BUCKETS)
        dims = (*_HISTOGRAM_DIMS, "error_type")
        _add_histograms(duration, self._duration_folder, dims, rows, DURATION_BUCKETS)
        usage = HistogramMetricFamily(
            "gen_ai_client_token_usage",
            "Tokens used per GenAI operation",
            labels=[*HISTOGRAM_LABELS, "gen_ai_token_type"],
        )
        rows = token_histogram(self.store, TOKEN_BUCKETS)
        _add_histograms(usage, self._token_folder, (*_HISTOGRAM_DIMS, "token_type"), rows, TOKEN_BUCKETS)
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


def _cut_rows(rows: Iterable[tuple[tuple[str, ...], Sequence[float]]]) -> dict[tuple[str, ...], Values]:
    """Rows keyed by their label values cut to ``NAME_MAX_CHARS``; rows whose keys cut alike are summed."""
    out: dict[tuple[str, ...], Values] = {}
    for key, values in rows:
        cut_key = tuple([cut(value, NAME_MAX_CHARS) for value in key])
        old = out.get(cut_key)
        out[cut_key] = (
            tuple(values) if old is None else tuple([a + b for a, b in zip(old, values, strict=True)])
        )
    return out


def _steady(value: Any) -> float:
    """A summed value at 9 decimals: floats summed in another order (another query plan, rows dropped by
    retention and their sums kept apart) differ in the last bits, and a counter lower by 1e-16 would read as
    a reset to Prometheus."""
    return round(float(value or 0.0), 9)


def _add_histograms(
    family: HistogramMetricFamily,
    folder: StickyTopN,
    dims: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    bounds: Sequence[float],
) -> None:
    """Add the histogram ``rows`` (see ``queries.duration_histogram``) to ``family``, labels bounded."""
    raw = _cut_rows(
        (
            tuple(str(row[dim] or "") for dim in dims),
            (float(row["count"]), _steady(row["sum"]), *row["counts"]),
        )
        for row in rows
    )
    positions = [dims.index(dim) for dim in folder.dims]
    for labels, values in sorted(folder.fold(raw, positions).items()):
        cumulative = 0.0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip([*map(floatToGoString, bounds), "+Inf"], values[2:], strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric(list(labels), buckets, values[1])


def budget_families(budgets: Sequence[Budget], status: BudgetStatus, currency: str) -> list[Metric]:
    """``ai_usage_budget_{limit,spent,ratio}`` per budget and scope value in the current period, and each
    budget's ``warning_ratio``. A ``"*"`` budget's values beyond the top N (``status.omitted``) fold into
    ``scope_value="other"``: their summed spend, the per-value limit, and the highest ratio among them."""
    labels = ["budget", "scope_value"]
    limit = GaugeMetricFamily(
        "ai_usage_budget_limit",
        'Budget limit per period (per value of a "*" scope)',
        labels=[*labels, "currency"],
    )
    spent = GaugeMetricFamily(
        "ai_usage_budget_spent", "Spent in the budget's current period", labels=[*labels, "currency"]
    )
    ratio = GaugeMetricFamily(
        "ai_usage_budget_ratio",
        "Spent / limit in the current period (other: the highest of its values)",
        labels=labels,
    )
    warning = GaugeMetricFamily(
        "ai_usage_budget_warning_ratio",
        "The highest threshold below 1.0: from this ratio the budget is in warning",
        labels=["budget"],
    )
    rows = [(r.name, r.scope_value or "", r.limit, r.spent, r.ratio) for r in status.rows]
    rows += [(o.name, OTHER, o.limit, o.spent, o.max_ratio) for o in status.omitted]
    for name, value, amount, used, share in rows:
        key = [cut(name, NAME_MAX_CHARS), cut(value, NAME_MAX_CHARS)]
        limit.add_metric([*key, currency], amount)
        spent.add_metric([*key, currency], used)
        ratio.add_metric(key, share)
    for budget in budgets:
        warn = warning_ratio(budget)
        if warn is not None:
            warning.add_metric([cut(budget.name, NAME_MAX_CHARS)], warn)
    return [limit, spent, ratio, warning]
