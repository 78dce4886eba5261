"""Usage reports (JSON or CSV): one builder for the Python API, the REST export and the CLI."""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import asdict
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ai_usage_monitor.store import periods, queries

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store

__all__ = [
    "REPORT_NAME_RE",
    "ReportFormat",
    "build_report",
    "new_report_path",
    "report_format",
    "write_report",
]

ReportFormat = Literal["json", "csv"]

#: File names of reports this package writes: ``usage_report_YYYYMMDD_HHMMSS[_N].json|csv``.
REPORT_NAME_RE = re.compile(r"usage_report_\d{8}_\d{6}(?:_\d{1,4})?\.(?:json|csv)")

#: How many users / anchors the report lists.
TOP_N = 100

_CSV_COLUMNS = ("section", "name", "calls", "tokens", "cost", "success_rate")


def build_report(
    store: Store, days: int = 30, now: periods.Instant = None, filters: queries.Filters | None = None
) -> dict[str, Any]:
    """Totals, breakdowns, top users and anchors, and the daily trend over the ``days`` days ending today
    (of the records ``filters`` match, e.g. one service: the report then says so under ``"filters"``)."""
    rng, dates = periods.last_days(store.tz, days, now)
    s = queries.summarize(store, rng, filters)
    settings = store.settings
    report: dict[str, Any] = {
        "period": {
            "days": days,
            "start_date": dates[0].isoformat(),
            "end_date": dates[-1].isoformat(),
            "start": datetime.fromtimestamp(rng.start, store.tz).isoformat(),
            "end": datetime.fromtimestamp(rng.end, store.tz).isoformat(),
            "timezone": settings.timezone,
        },
        "generated_at": datetime.fromtimestamp(periods.to_epoch(now), store.tz).isoformat(),
        "currency": settings.currency,
        "usd_cny_rate": settings.usd_cny_rate,
        "totals": {
            "calls": s.calls,
            "successes": s.successes,
            "failures": s.failures,
            "success_rate": s.success_rate,
            "total_tokens": s.total_tokens,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cached_tokens": s.cached_tokens,
            "reasoning_tokens": s.reasoning_tokens,
            "cost": s.cost,
            "avg_duration_ms": s.avg_duration_ms,
            "unpriced_calls": s.unpriced_calls,
        },
        "by_model": s.by_model,
        "by_function": s.by_function,
        "by_user": queries.ranking(store, "user_id", rng, TOP_N, filters),
        "by_anchor": queries.ranking(store, "anchor_id", rng, TOP_N, filters),
        "daily": queries.cost_trend(store, dates, filters),
        "unpriced_models": queries.unpriced_models(store, rng, filters),
    }
    if filters is not None and filters != queries.Filters():
        report["filters"] = {
            name: value for name, value in asdict(filters).items() if value not in (None, ())
        }
    return report


def report_format(path: Path) -> ReportFormat:
    """``csv`` for a ``.csv`` path, else ``json``."""
    return "csv" if path.suffix.lower() == ".csv" else "json"


def new_report_path(
    folder: Path, fmt: ReportFormat = "json", now: periods.Instant = None, tz: tzinfo | None = None
) -> Path:
    """A fresh ``usage_report_YYYYMMDD_HHMMSS.<fmt>`` path in ``folder`` (local time of ``tz``; numbered
    if the name is taken)."""
    stamp = datetime.fromtimestamp(periods.to_epoch(now), tz).strftime("%Y%m%d_%H%M%S")
    path = folder / f"usage_report_{stamp}.{fmt}"
    n = 1
    while path.exists():
        path = folder / f"usage_report_{stamp}_{n}.{fmt}"
        n += 1
    return path


def _csv_text(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    t = report["totals"]
    writer.writerow(["total", "", t["calls"], t["total_tokens"], t["cost"], t["success_rate"]])
    for section, key in (("model", "by_model"), ("function", "by_function")):
        for name, row in report[key].items():
            writer.writerow(
                [section, name, row["calls"], row["total_tokens"], row["cost"], row["success_rate"]]
            )
    for section, key, name_key in (("user", "by_user", "user_id"), ("anchor", "by_anchor", "anchor_id")):
        for row in report[key]:
            writer.writerow(
                [section, row[name_key], row["calls"], row["tokens"], row["cost"], row["success_rate"]]
            )
    for row in report["daily"]:
        writer.writerow(["day", row["date"], row["calls"], row["tokens"], row["cost"], ""])
    return out.getvalue()


def write_report(report: dict[str, Any], path: Path, fmt: ReportFormat | None = None) -> Path:
    """Write ``report`` to ``path`` (parent folders created; written whole, then renamed into place)."""
    path = Path(path)
    fmt = fmt or report_format(path)
    if fmt == "json":
        data = orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    elif fmt == "csv":
        data = _csv_text(report).encode("utf-8-sig")
    else:
        raise ValueError(f"report format must be json or csv, got {fmt!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
