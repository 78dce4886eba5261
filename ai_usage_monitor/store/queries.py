"""Every question the API, /metrics, the CLI and the Python API ask of the records — in one place.

Each function takes the store, a time range and optional filters, and returns plain data; each query is
written once and spelled for the store's engine (DuckDB or ClickHouse) by its ``dialect``. Time ranges
are raw Unix seconds (see ``periods``), so the index holds no time-zone-dependent column. All-time
aggregates, and those over a range that has not ended yet (today, this month, the last N days: what the
dashboard and /metrics ask again and again), are cached and folded forward with only the ingest batches
that arrived since (ClickHouse has no batches: its store recomputes them, cached briefly).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, get_args

from ai_usage_monitor.store.buckets import DURATION_BUCKETS, TOKEN_BUCKETS
from ai_usage_monitor.store.cache import Combine, Groups, greatest, least, merge, plus
from ai_usage_monitor.store.dialect import Dialect, utc_day
from ai_usage_monitor.store.schema import decode_tags, tag_entry

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store

__all__ = [
    "AdviceCall",
    "Dimension",
    "Filters",
    "Summary",
    "TimeRange",
    "advice_calls",
    "cost_trend",
    "daily_costs",
    "duration_histogram",
    "expired_counters",
    "hourly_costs",
    "iter_records",
    "latency_by_model",
    "metric_totals",
    "model_traffic",
    "ranking",
    "recent_errors",
    "summarize",
    "token_histogram",
    "unpriced_models",
]

Dimension = Literal["model", "function", "user_id", "anchor_id", "session_id", "provider", "service", "host"]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open range ``[start, end)`` of record timestamps, in Unix seconds."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Filters:
    """Equality filters; ``None`` means any. ``tags``: ``(key, value)`` pairs the record's tags all hold."""

    provider: str | None = None
    model: str | None = None
    function: str | None = None
    user_id: str | None = None
    anchor_id: str | None = None
    session_id: str | None = None
    service: str | None = None
    host: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


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
    #: calls with known tokens and no price: the calls ``unpriced_models`` lists
    unpriced_calls: int = 0
    #: first and last record timestamps in the range (``None`` when it is empty)
    first_timestamp: float | None = None
    last_timestamp: float | None = None
    #: name → {"calls", "total_tokens", "input_tokens", "output_tokens", "cost", "success_rate"};
    #: records without a model or function are listed under ``"unknown"``
    by_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_function: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return self.calls - self.successes

    @property
    def success_rate(self) -> float:
        """Successes ÷ calls × 100; 100.0 when there were no calls."""
        return 100.0 if self.calls == 0 else self.successes * 100.0 / self.calls


UNKNOWN = "unknown"
_DIMENSIONS = frozenset(get_args(Dimension))
_DAY = 86400
_EPOCH = date(1970, 1, 1)
#: Tokens of a call: its total, else input + output; unknown counts as 0 (docs/architecture.md §6).
_TOKENS = "coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0))"


def _unpriced(d: Dialect) -> str:
    """A call with known tokens and no price. A call whose tokens are unknown (``usage_missing``, e.g. most
    failures) has nothing to price: it is not counted unpriced, so a priced model never shows up."""
    return f"NOT priced AND NOT coalesce(usage_missing, {d.false})"


_Acc = dict[tuple[Any, ...], list[Any]]
#: Ingest batches ``(after, upto]``: a fold reads only the rows they added.
_Batches = tuple[int, int]
_T = TypeVar("_T")
#: A cached grouping holds at most this many groups; a bigger one is asked of the index each time.
MAX_CACHED_GROUPS = 10_000
#: The value of a cached grouping that outgrew ``MAX_CACHED_GROUPS``.
_OVERFLOW: Final = Groups()


def _where(
    dialect: Dialect,
    rng: TimeRange | None,
    filters: Filters | None = None,
    *extra: str,
    batches: _Batches | None = None,
) -> tuple[str, list[Any]]:
    """`` WHERE …`` of ``rng`` (and, for an engine that needs it, the UTC days it spans: see
    ``Dialect.day_key``), ``filters``, ``extra`` clauses and ingest ``batches`` (ignored by an engine
    without batches), and its parameters."""
    clauses: list[str] = list(extra)
    params: list[Any] = []
    if rng is not None:
        clauses.append("ts >= ? AND ts < ?")
        params += [rng.start, rng.end]
        if dialect.day_key is not None:
            clauses.append(f"{dialect.day_key} BETWEEN toDate(?) AND toDate(?)")
            params += [utc_day(rng.start), utc_day(rng.end)]
    if batches is not None and dialect.batches:
        clauses.append("batch > ? AND batch <= ?")
        params += list(batches)
    if filters is not None:
        for f in fields(filters):
            value = getattr(filters, f.name)
            if f.name == "tags":
                for key, tag_value in value:
                    clauses.append(dialect.has_tag("tags"))
                    params.append(tag_entry(key, tag_value))
            elif value is not None:
                clauses.append(f"{f.name} = ?")
                params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _rate(successes: int, calls: int) -> float:
    return 100.0 if calls == 0 else successes * 100.0 / calls


def _cacheable(rng: TimeRange | None, filters: Filters | None) -> bool:
    """All records, or a range not over yet: asked again and again, and only new batches change it. A range
    already over, or sliding with the clock (the last 60 minutes), is asked of the index each time."""
    return filters is None and (rng is None or rng.end > time.time())


def _cached(
    store: Store,
    key: tuple[Any, ...],
    rng: TimeRange | None,
    filters: Filters | None,
    run: Callable[[_Batches | None, _T | None], _T],
    *,
    recomputes: bool = False,
) -> _T:
    """``run(batches, previous)`` over ``rng``: folded forward per new batch when ``_cacheable``, else
    ``run(None, None)`` over every row. ``recomputes``: see ``Store.incremental``."""
    if not _cacheable(rng, filters):
        return run(None, None)
    return store.incremental(
        (*key, rng),
        lambda after, upto, previous: run((after, upto), previous),
        keep=rng is None,
        recomputes=recomputes,
    )


def _capped_groups(
    store: Store,
    sql: str,
    combine: Sequence[Combine],
    rng: TimeRange | None,
    filters: Filters | None = None,
    *extra: str,
    select_params: Sequence[Any] = (),
    order: Callable[[tuple[Any, ...]], Any] | None = None,
) -> Groups | None:
    """The rows of ``sql`` (a ``GROUP BY`` whose ``{where}`` is filled in for ``rng``, ``filters`` and
    ``extra``; ``{records}``: the dialect's table) merged by group (see ``merge``); ``None`` when there
    are more than ``MAX_CACHED_GROUPS``.
    ``order``: rank the groups as part of the fold (so after an ingest rather than when asked)."""

    def run(batches: _Batches | None, previous: Groups | None) -> Groups:
        if previous is _OVERFLOW:
            return _OVERFLOW
        where, params = _where(store.dialect, rng, filters, *extra, batches=batches)
        limit = MAX_CACHED_GROUPS + 1
        text = sql.format(where=where, records=store.dialect.records)
        acc = merge(previous, store.query(f"{text} LIMIT ?", [*select_params, *params, limit]), combine)
        if len(acc) > MAX_CACHED_GROUPS:
            return _OVERFLOW
        if order is not None:
            acc.ranked(order)
        return acc

    groups = _cached(store, (sql, extra, tuple(select_params)), rng, filters, run)
    return None if groups is _OVERFLOW else groups


def _groups(
    store: Store,
    sql: str,
    combine: Sequence[Combine],
    rng: TimeRange | None,
    filters: Filters | None = None,
    *extra: str,
    select_params: Sequence[Any] = (),
) -> Groups:
    """Every group of ``sql`` (see ``_capped_groups``), asked of the index in full when there are too many."""
    groups = _capped_groups(store, sql, combine, rng, filters, *extra, select_params=select_params)
    if groups is None:
        where, params = _where(store.dialect, rng, filters, *extra)
        text = sql.format(where=where, records=store.dialect.records)
        groups = merge(None, store.query(text, [*select_params, *params]), combine)
    return groups


def _nulls_last(value: Any) -> tuple[bool, Any]:
    """Sort key ordering like SQL's ``ORDER BY value`` (NULLs last)."""
    return (value is None, "" if value is None else value)


_SUMMARY_COMBINE = (*[plus] * 10, least, greatest)


@functools.cache
def _summary_sql(d: Dialect, breakdowns: bool) -> str:
    """Totals per (model, function); without ``breakdowns`` one group, however many models and functions
    there are (no row when nothing matches)."""
    sums = f"""count(*), {d.count_if("success")}, sum({_TOKENS}),
    sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(reasoning_tokens),
    sum(cost), sum(duration_ms), {d.count_if(_unpriced(d))}, min(ts), max(ts)"""
    if breakdowns:
        return f"SELECT model, function, {sums} FROM {{records}}{{where}} GROUP BY model, function"
    return f"SELECT NULL, NULL, {sums} FROM {{records}}{{where}} HAVING count(*) > 0"


def summarize(
    store: Store, rng: TimeRange | None, filters: Filters | None = None, *, breakdowns: bool = True
) -> Summary:
    """Totals and by-model / by-function breakdowns over ``rng`` (``None``: all records). Without
    ``breakdowns`` the totals alone (empty breakdowns): as cheap with 100k distinct names as with one."""
    # One hash aggregate over the few (model, function) pairs; totals and both breakdowns are rolled up here.
    groups = _groups(store, _summary_sql(store.dialect, breakdowns), _SUMMARY_COMBINE, rng, filters)
    rows = [(*key, *values) for key, values in groups.items()]
    out = Summary()
    duration = 0.0
    models: dict[str, list[Any]] = {}
    functions: dict[str, list[Any]] = {}
    for model, function, calls, ok, tokens, inp, outp, cached, reasoning, cost, dur, unpriced, lo, hi in rows:
        out.calls += calls
        out.successes += ok
        out.total_tokens += int(tokens or 0)
        out.input_tokens += int(inp or 0)
        out.output_tokens += int(outp or 0)
        out.cached_tokens += int(cached or 0)
        out.reasoning_tokens += int(reasoning or 0)
        out.cost += float(cost or 0.0)
        out.unpriced_calls += unpriced
        duration += float(dur or 0.0)
        out.first_timestamp = lo if out.first_timestamp is None else min(out.first_timestamp, lo)
        out.last_timestamp = hi if out.last_timestamp is None else max(out.last_timestamp, hi)
        if not breakdowns:
            continue
        part = (calls, ok, int(tokens or 0), int(inp or 0), int(outp or 0), float(cost or 0.0))
        for acc, name in ((models, model), (functions, function)):
            old = acc.get(name or UNKNOWN)
            acc[name or UNKNOWN] = (
                list(part) if old is None else [a + b for a, b in zip(old, part, strict=True)]
            )
    out.avg_duration_ms = duration / out.calls if out.calls else 0.0
    out.by_model, out.by_function = _breakdown(models), _breakdown(functions)
    return out


def _breakdown(acc: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    rows = sorted(acc.items(), key=lambda kv: (-kv[1][5], kv[0]))
    return {
        name: {
            "calls": calls,
            "total_tokens": tokens,
            "input_tokens": inp,
            "output_tokens": outp,
            "cost": cost,
            "success_rate": _rate(ok, calls),
        }
        for name, (calls, ok, tokens, inp, outp, cost) in rows
    }


def ranking(
    store: Store,
    dimension: Dimension,
    rng: TimeRange | None,
    limit: int,
    filters: Filters | None = None,
    *,
    with_unknown: bool = False,
) -> list[dict[str, Any]]:
    """Top values of ``dimension`` by cost, highest first; records with a null value are left out (with
    ``with_unknown``: counted under ``"unknown"``, as the summaries' breakdowns do).

    Each row: ``{dimension: value, "calls", "tokens", "cost", "success_rate"}``.
    """
    if dimension not in _DIMENSIONS:
        raise ValueError(f"dimension must be one of {sorted(_DIMENSIONS)}, got {dimension!r}")
    column = f"coalesce({dimension}, '{UNKNOWN}')" if with_unknown else dimension
    extra = () if with_unknown else (f"{dimension} IS NOT NULL",)
    d = store.dialect
    select = f"""SELECT {column} AS k, count(*), {d.count_if("success")}, sum({_TOKENS}), sum(cost)
                 FROM {d.records}{{where}} GROUP BY k"""
    groups = None
    if _cacheable(rng, filters):
        groups = _capped_groups(store, select, [plus] * 4, rng, filters, *extra, order=_by_cost)
    if groups is not None:
        rows = groups.ranked(_by_cost)[: int(limit)]
    else:
        where, params = _where(store.dialect, rng, filters, *extra)
        rows = store.query(
            select.format(where=where) + " ORDER BY sum(cost) DESC, count(*) DESC, k LIMIT ?",
            [*params, int(limit)],
        )
    return [
        {
            dimension: value,
            "calls": calls,
            "tokens": int(tokens or 0),
            "cost": float(cost or 0.0),
            "success_rate": _rate(ok, calls),
        }
        for value, calls, ok, tokens, cost in rows
    ]


def _by_cost(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``ORDER BY cost DESC, calls DESC, value`` for ``(value, calls, successes, tokens, cost)`` rows."""
    value, calls, _, _, cost = row
    return (cost is None, -(cost or 0.0), -calls, value)


def _local_day_sql(store: Store, start: float, end: float) -> tuple[str, list[Any]]:
    """SQL for the local epoch-day number of ``ts`` within ``[start, end)``, DST changes included."""
    from ai_usage_monitor.store.periods import utc_offset_segments

    segments = utc_offset_segments(store.tz, start, end)
    params: list[Any] = []
    offset = "?"
    if len(segments) > 1:
        offset = "CASE " + " ".join("WHEN ts < ? THEN ?" for _ in segments[1:]) + " ELSE ? END"
        for (_, before), (change, _after) in itertools.pairwise(segments):
            params += [change, before]
    params.append(segments[-1][1])
    return f"CAST(floor((ts + {offset}) / {_DAY}) AS BIGINT)", params


def _by_local_day(
    store: Store,
    days: Sequence[date],
    key_columns: Sequence[str],
    sums: str,
    folds: list[Any],
    *,
    filters: Filters | None = None,
) -> dict[tuple[Any, ...], list[Any]]:
    """``sums`` grouped by ``key_columns`` (SQL expressions, may be none) and local calendar day over
    ``days``' span; each key ends with the day as a ``date``."""
    from ai_usage_monitor.store.periods import day_start

    start = day_start(store.tz, min(days))
    end = day_start(store.tz, max(days) + timedelta(days=1))
    day_sql, day_params = _local_day_sql(store, start, end)
    prefix = "".join(f"{column} AS k{i}, " for i, column in enumerate(key_columns))
    keys = ", ".join([*(f"k{i}" for i in range(len(key_columns))), "d"])
    sql = f"SELECT {prefix}{day_sql} AS d, {sums} FROM {{records}}{{where}} GROUP BY {keys}"
    groups = _groups(store, sql, folds, TimeRange(start, end), filters, select_params=day_params)
    return {(*key[:-1], _EPOCH + timedelta(days=int(key[-1]))): values for key, values in groups.items()}


def cost_trend(store: Store, days: Sequence[date], filters: Filters | None = None) -> list[dict[str, Any]]:
    """One row per given calendar day (configured time zone), zeros included:
    ``{"date": "YYYY-MM-DD", "cost", "calls", "tokens"}``."""
    if not days:
        return []
    found = _by_local_day(
        store, days, (), f"sum(cost), count(*), sum({_TOKENS})", [plus] * 3, filters=filters
    )
    out = []
    for day in days:
        cost, calls, tokens = found.get((day,), (0.0, 0, 0))
        out.append(
            {"date": day.isoformat(), "cost": float(cost or 0.0), "calls": calls, "tokens": int(tokens or 0)}
        )
    return out


def unpriced_models(
    store: Store, rng: TimeRange | None, filters: Filters | None = None
) -> list[dict[str, Any]]:
    """Models called with known tokens but no price:
    ``{"provider", "model", "calls", "tokens", "last_seen"}``, most calls first.

    The calls ``Summary.unpriced_calls`` counts (``_unpriced``), so the two always agree.
    """
    if (
        rng is not None
        and filters is None
        and all(row["last_seen"] < rng.start for row in unpriced_models(store, None))
    ):
        return []  # none since the range began: the usual case, answered from the all-time list
    sql = f"""SELECT provider, model, count(*), sum({_TOKENS}), max(ts) FROM {{records}}{{where}}
              GROUP BY provider, model"""
    groups = _groups(store, sql, [plus, plus, greatest], rng, filters, _unpriced(store.dialect))
    rows = sorted(
        ((*key, *values) for key, values in groups.items()),
        key=lambda r: (-r[2], _nulls_last(r[0]), _nulls_last(r[1])),
    )
    return [
        {"provider": p, "model": m, "calls": c, "tokens": int(t or 0), "last_seen": last}
        for p, m, c, t, last in rows
    ]


_ERROR_KEYS = (
    "timestamp",
    "provider",
    "model",
    "function",
    "user_id",
    "anchor_id",
    "session_id",
    "error_type",
    "error_msg",
)


def recent_errors(
    store: Store, limit: int, rng: TimeRange | None = None, filters: Filters | None = None
) -> list[dict[str, Any]]:
    """Newest failed calls first: ``{"timestamp", "provider", "model", "function", "user_id",
    "anchor_id", "session_id", "error_type", "error_msg"}``."""
    limit = int(limit)
    newest = _newest_errors(store, limit, None if filters is None else rng, filters)
    if rng is not None and filters is None:
        # The all-time newest answer for a range too when they include ``limit`` of its errors, or reach back
        # past its start (then every error since is among them) — the usual case for a range ending now.
        inside = [row for row in newest if rng.start <= row[0] < rng.end]
        if not (len(inside) == limit or len(newest) < limit or newest[-1][0] < rng.start):
            inside = _newest_errors(store, limit, rng, None)
        newest = inside
    return [dict(zip(_ERROR_KEYS, row, strict=True)) for row in newest]


def _newest_errors(
    store: Store, limit: int, rng: TimeRange | None, filters: Filters | None
) -> list[tuple[Any, ...]]:
    columns = ", ".join("ts" if k == "timestamp" else k for k in _ERROR_KEYS)

    def run(batches: _Batches | None, previous: list[tuple[Any, ...]] | None) -> list[tuple[Any, ...]]:
        where, params = _where(store.dialect, rng, filters, "NOT success", batches=batches)
        rows = store.query(
            f"SELECT {columns} FROM {store.dialect.records}{where} ORDER BY ts DESC LIMIT ?", [*params, limit]
        )
        if previous:
            rows = sorted([*rows, *previous], key=lambda row: row[0], reverse=True)[:limit]
        return rows

    return _cached(store, ("recent_errors", limit), rng, filters, run)


def latency_by_model(
    store: Store, rng: TimeRange | None, filters: Filters | None = None
) -> list[dict[str, Any]]:
    """``{"model", "calls", "avg_ms", "p50_ms", "p95_ms"}`` per model, most calls first."""

    # Percentiles do not fold: a cached answer is computed again whenever new batches have arrived.
    def run(batches: _Batches | None, _previous: object) -> list[tuple[Any, ...]]:
        d = store.dialect
        where, params = _where(d, rng, filters, batches=None if batches is None else (0, batches[1]))
        return store.query(
            f"""SELECT model, count(*), avg(duration_ms), {d.quantiles("duration_ms", (0.5, 0.95))}
                FROM {d.records}{where} GROUP BY model ORDER BY count(*) DESC, model""",
            params,
        )

    rows = _cached(store, ("latency_by_model",), rng, filters, run, recomputes=True)
    return [
        {"model": m or UNKNOWN, "calls": c, "avg_ms": float(a), "p50_ms": float(p50), "p95_ms": float(p95)}
        for m, c, a, (p50, p95) in rows
    ]


_METRIC_SUMS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cost")


def metric_totals(
    store: Store, extra_labels: Sequence[Literal["user_id", "anchor_id"]] = ()
) -> list[dict[str, Any]]:
    """All-time counters for /metrics, one row per (provider, model, function, status[, extra labels]):
    ``{"provider", "model", "function", "status" ("ok"|"error"), …extra, "requests", "input_tokens",
    "output_tokens", "cached_tokens", "reasoning_tokens", "cost"}``. Null strings come back as ``""``."""
    extras = tuple(extra_labels)
    for label in extras:
        if label not in ("user_id", "anchor_id"):
            raise ValueError(f"extra label must be user_id or anchor_id, got {label!r}")
    names = ("provider", "model", "function", "status", *extras)
    totals = store.incremental(("metric_totals", extras), _counting(store, _metric_sums(store, extras)))
    return [
        {**dict(zip(names, key, strict=True)), **dict(zip(_METRIC_SUMS, sums, strict=True))}
        for key, sums in sorted(totals.items())
    ]


#: ``add(rows, params, previous)``: ``previous`` (an all-time /metrics aggregate) plus the rows matching the
#: SQL condition ``rows``; with its name in the store's ledger of dropped rows (``Store.expired``).
_Adder = tuple[str, Callable[[str, dict[str, Any], _Acc | None], _Acc]]


def _counting(store: Store, adder: _Adder) -> Callable[[int, int, _Acc | None], _Acc]:
    """The fold of an all-time counter aggregate: it starts from what rows dropped by retention had added, so
    /metrics counters never go down (a drop would read as a counter reset to Prometheus)."""
    name, add = adder
    d = store.dialect

    def fold(after: int, upto: int, previous: _Acc | None) -> _Acc:
        if previous is None:
            previous = store.expired(name)
        return add(d.new_rows, {"after": after, "upto": upto}, previous)

    return fold


def _metric_sums(store: Store, extras: tuple[str, ...]) -> _Adder:
    names = ("provider", "model", "function", "status", *extras)
    keys = ", ".join(
        ("CASE WHEN success THEN 'ok' ELSE 'error' END" if name == "status" else f"coalesce({name}, '')")
        + f" AS k{i}"
        for i, name in enumerate(names)
    )
    group = ", ".join(f"k{i}" for i in range(len(names)))
    d = store.dialect

    def add(rows_sql: str, params: dict[str, Any], previous: _Acc | None) -> _Acc:
        totals = dict(previous or {})
        rows = store.query(
            f"""SELECT {keys}, count(*),
                       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
                       coalesce(sum(cached_tokens), 0), coalesce(sum(reasoning_tokens), 0), sum(cost)
                FROM {d.records} WHERE {rows_sql} GROUP BY {group}""",
            params,
        )
        for row in rows:
            key, sums = tuple(row[: len(names)]), row[len(names) :]
            old = totals.get(key)
            totals[key] = [a + b for a, b in zip(old, sums, strict=True)] if old else list(sums)
        return totals

    return f"metric_totals:{','.join(extras)}", add


def _bucket_sql(value: str, buckets: Sequence[float]) -> tuple[str, dict[str, float]]:
    """SQL for the index of the first bucket whose upper bound is >= ``value`` (``len(buckets)``: +Inf)."""
    whens = " ".join(f"WHEN {value} <= $b{i} THEN {i}" for i in range(len(buckets)))
    return f"CASE {whens} ELSE {len(buckets)} END", {f"b{i}": float(b) for i, b in enumerate(buckets)}


def _histogram_sums(
    store: Store, name: str, bounds: tuple[float, ...], labels: Sequence[str], source: str
) -> _Adder:
    """Adds to a histogram of ``v`` from ``source`` (a SELECT of columns ``l0, l1, …`` for ``labels`` and
    ``v`` over the rows of the condition ``{rows}``), one entry per label combination."""
    if list(bounds) != sorted(bounds):
        raise ValueError("histogram buckets must be increasing")
    bucket_sql, bucket_params = _bucket_sql("v", bounds)
    columns = ", ".join(f"l{i}" for i in range(len(labels)))

    def add(rows_sql: str, params: dict[str, Any], previous: _Acc | None) -> _Acc:
        acc: _Acc = {k: [list(v[0]), v[1], v[2]] for k, v in (previous or {}).items()}
        sql = f"""SELECT {columns}, {bucket_sql} AS b, count(*), sum(v)
                  FROM ({source.format(rows=rows_sql)}) WHERE v IS NOT NULL GROUP BY {columns}, b"""
        for row in store.query(sql, {**params, **bucket_params}):
            key = tuple(row[: len(labels)])
            b, count, total = row[len(labels) :]
            entry = acc.setdefault(key, [[0] * (len(bounds) + 1), 0.0, 0])
            entry[0][b] += count
            entry[1] += float(total)
            entry[2] += count
        return acc

    return f"{name}:{','.join(map(repr, bounds))}", add


def _histogram(
    store: Store, name: str, buckets: Sequence[float], labels: Sequence[str], source: str
) -> list[dict[str, Any]]:
    """All-time histogram of ``v`` from ``source`` (see ``_histogram_sums``), a row per label combination."""
    bounds = tuple(float(b) for b in buckets)
    acc = store.incremental(
        (name, bounds), _counting(store, _histogram_sums(store, name, bounds, labels, source))
    )
    return [
        {**dict(zip(labels, key, strict=True)), "counts": list(counts), "sum": total, "count": count}
        for key, (counts, total, count) in sorted(acc.items())
    ]


_DURATION_LABELS = ("operation", "provider", "model", "error_type")
#: every ``extra_labels`` /metrics may ask ``metric_totals`` for (settings ``metrics_*_labels``)
_EXTRA_LABEL_SETS: tuple[tuple[str, ...], ...] = ((), ("user_id",), ("anchor_id",), ("user_id", "anchor_id"))
_TOKEN_LABELS = ("operation", "provider", "model", "token_type")


def _duration_source(d: Dialect) -> str:
    return f"""SELECT operation AS l0, provider AS l1, model AS l2,
                      CASE WHEN success THEN '' ELSE coalesce(error_type, '_OTHER') END AS l3,
                      duration_ms / 1000.0 AS v
               FROM {d.records} WHERE {{rows}}"""


def _token_source(d: Dialect) -> str:
    return f"""SELECT operation AS l0, provider AS l1, model AS l2, 'input' AS l3,
                      input_tokens AS v FROM {d.records} WHERE {{rows}}
               UNION ALL
               SELECT operation AS l0, provider AS l1, model AS l2, 'output' AS l3, output_tokens AS v
               FROM {d.records} WHERE {{rows}}"""


def expired_counters(store: Store, cutoff: float) -> dict[str, Any]:
    """Every /metrics counter aggregate over the rows older than ``cutoff`` (Unix seconds), added to what
    rows dropped earlier had added (``Store.expired``): what a store keeps when retention drops those rows."""
    d = store.dialect
    adders = [
        *(
            _metric_sums(store, extras)
            for extras in ((), ("user_id",), ("anchor_id",), ("user_id", "anchor_id"))
        ),
        _histogram_sums(store, "duration_histogram", DURATION_BUCKETS, _DURATION_LABELS, _duration_source(d)),
        _histogram_sums(store, "token_histogram", TOKEN_BUCKETS, _TOKEN_LABELS, _token_source(d)),
    ]
    return {name: add("ts < $cutoff", {"cutoff": cutoff}, store.expired(name)) for name, add in adders}


def duration_histogram(store: Store, buckets: Sequence[float]) -> list[dict[str, Any]]:
    """All-time ``gen_ai_client_operation_duration_seconds`` data, one row per (operation, provider,
    request model, error_type): ``{"operation", "provider", "model", "error_type", "counts"
    (non-cumulative count per bucket upper bound, plus one for +Inf), "sum", "count"}``.

    ``error_type`` is ``""`` for successful calls and ``"_OTHER"`` for failures that named none."""
    return _histogram(store, "duration_histogram", buckets, _DURATION_LABELS, _duration_source(store.dialect))


def token_histogram(store: Store, buckets: Sequence[float]) -> list[dict[str, Any]]:
    """All-time ``gen_ai_client_token_usage`` data per (operation, provider, model, token_type
    ``input``|``output``): same row shape as :func:`duration_histogram` plus ``"token_type"``."""
    return _histogram(store, "token_histogram", buckets, _TOKEN_LABELS, _token_source(store.dialect))


def iter_records(
    store: Store, rng: TimeRange | None, filters: Filters | None = None
) -> Iterator[dict[str, Any]]:
    """The records themselves (as dicts with the JSONL keys), oldest first, for exports.

    Only the indexed keys come back (``schema.INDEXED_FIELDS``, ``tags`` as a dict); ids stay in the JSONL."""
    from ai_usage_monitor.store.schema import INDEXED_FIELDS, RECORD_COLUMNS

    where, params = _where(store.dialect, rng, filters)
    keys = tuple(INDEXED_FIELDS)
    d = store.dialect
    sql = f"SELECT {', '.join(RECORD_COLUMNS)} FROM {d.records}{where} ORDER BY ts"
    flags = [i for i, t in enumerate(INDEXED_FIELDS.values()) if t == "BOOLEAN"] if d.false != "false" else []
    for row in store.stream(sql, params):
        record = dict(zip(keys, row, strict=True))
        for i in flags:  # booleans held as 0 / 1
            if row[i] is not None:
                record[keys[i]] = bool(row[i])
        record["tags"] = decode_tags(record["tags"])
        yield record


#: One call as the advice re-prices it (``insights/advice.py``): tokens as recorded, ``None`` when unknown.
AdviceCall = tuple[
    str, str, str | None, float, int | None, int | None, int | None, int | None, float, bool, float
]


def advice_calls(store: Store, rng: TimeRange) -> Iterator[AdviceCall]:
    """Every call in ``rng`` as ``(provider, model, function, ts, input_tokens, output_tokens,
    cached_tokens, reasoning_tokens, cost, success, duration_ms)``, oldest first."""
    where, params = _where(store.dialect, rng)
    d = store.dialect
    sql = f"""SELECT coalesce(provider, ''), coalesce(model, ''), function, ts, input_tokens,
                     output_tokens, cached_tokens, reasoning_tokens, coalesce(cost, 0.0),
                     coalesce(success, {d.true}), coalesce(duration_ms, 0.0)
              FROM {d.records}{where} ORDER BY ts"""
    if d.true == "true":
        yield from store.stream(sql, params)
        return
    for row in store.stream(sql, params):  # ``success`` held as 0 / 1
        yield (*row[:9], bool(row[9]), row[10])


def model_traffic(store: Store, rng: TimeRange) -> dict[tuple[str, str], dict[str, Any]]:
    """``(provider, model)`` → ``{"calls", "success_rate", "avg_ms", "p50_ms"}`` over ``rng``."""
    where, params = _where(store.dialect, rng)
    d = store.dialect
    rows = store.query(
        f"""SELECT coalesce(provider, '') AS p, coalesce(model, '') AS m, count(*), {d.count_if("success")},
                   avg(duration_ms), {d.quantile("duration_ms", 0.5)}
            FROM {d.records}{where} GROUP BY p, m""",
        params,
    )
    return {
        (provider, model): {
            "calls": calls,
            "success_rate": _rate(ok, calls),
            "avg_ms": float(avg or 0.0),
            "p50_ms": float(p50 or 0.0),
        }
        for provider, model, calls, ok, avg, p50 in rows
    }


def daily_costs(
    store: Store, days: Sequence[date], dimension: Dimension | None = None
) -> dict[str, list[float]]:
    """Cost per given local calendar day (oldest first, zeros included) for each value of ``dimension``
    seen in those days (a null value under ``"unknown"``), or for all records under ``"all"``."""
    if dimension is not None and dimension not in _DIMENSIONS:
        raise ValueError(f"dimension must be one of {sorted(_DIMENSIONS)}, got {dimension!r}")
    if not days:
        return {}
    key = "'all'" if dimension is None else f"coalesce({dimension}, '{UNKNOWN}')"
    position = {day: i for i, day in enumerate(days)}
    out: dict[str, list[float]] = {}
    for (name, day), (cost,) in _by_local_day(store, days, (key,), "sum(cost)", [plus]).items():
        i = position.get(day)
        if i is not None:
            out.setdefault(name, [0.0] * len(days))[i] += float(cost or 0.0)
    return out


def hourly_costs(store: Store, rng: TimeRange) -> list[tuple[float, float]]:
    """``(start, cost)`` per UTC clock hour in ``rng`` that has records, oldest first (local hours of the
    day are derived from these by the caller, whose zone may shift by whole hours only)."""
    sql = "SELECT CAST(floor(ts / 3600) AS BIGINT) AS h, sum(cost) FROM {records}{where} GROUP BY h"
    groups = _groups(store, sql, [plus], rng)
    return sorted((float(h) * 3600, float(cost or 0.0)) for (h,), (cost,) in groups.items())
