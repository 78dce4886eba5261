"""Reliability of the store's ingest (issue 8 §4, §7, §10): hostile lines mixed into good records.

Writes N good records over the last 30 days into daily ``usage_*.jsonl`` files, with every kind of hostile
line of ``ai_usage_monitor.testing.hostile`` (NaN, Infinity, negative numbers, strings for numbers, torn
lines with a record glued behind, duplicates, huge lines, invalid UTF-8, wrong types, deep nesting) mixed
in, ``--per-kind`` times each; ingests them with a fresh ``UsageStore`` and prints, per kind, the lines
written and what the index must make of them, then whether the index's corrupt and duplicate counts and
every total (all time, each day, each month, the ``/metrics`` counters) equal the good records' own.

    python benchmarks/reliability_store.py                          # 100,000 records, 20 of each kind
    python benchmarks/reliability_store.py --records 1000000 --per-kind 100
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import periods, queries
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.testing.hostile import HOSTILE_KINDS, hostile_chunk

TZ = "Asia/Shanghai"
DAYS = 30


def good_records(n: int, end: float, seed: int) -> list[UsageRecord]:
    """``n`` plausible records over the ``DAYS`` days before ``end`` (costs in whole micro-units)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        inp, outp = rnd.randint(1, 8000), rnd.randint(0, 2000)
        out.append(
            UsageRecord(
                timestamp=round(end - rnd.uniform(0, DAYS * 86400), 3),
                user_id=f"user_{rnd.randint(1, 50):03d}",
                model=rnd.choice(("qwen-plus", "qwen-max", "gpt-4o-mini")),
                function=rnd.choice(("实时分析", "话术生成", None)),
                input_tokens=inp,
                output_tokens=outp,
                total_tokens=inp + outp,
                cost=rnd.randint(0, 50_000) / 1e6,
                duration_ms=round(rnd.uniform(20, 30_000), 1),
                success=rnd.random() > 0.03,
                priced=True,
            )
        )
    return out


def close(a: float, b: float) -> bool:
    return math.isfinite(a) and abs(a - b) <= 1e-9 * max(1.0, abs(b))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000, help="good records")
    parser.add_argument("--per-kind", type=int, default=20, help="hostile chunks of each kind")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed")
    args = parser.parse_args()
    if args.per_kind * len(HOSTILE_KINDS) > args.records:
        parser.error("--records must be at least --per-kind times the number of kinds")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reliability-store-"))
    settings = Settings(records_dir=workdir / "records", index_dir=workdir / "index", timezone=TZ)
    shutil.rmtree(workdir / "records", ignore_errors=True)
    shutil.rmtree(workdir / "index", ignore_errors=True)
    settings.records_dir.mkdir(parents=True)
    tz = settings.tz

    end = time.time()
    records = good_records(args.records, end, args.seed)
    kinds = [k for k in HOSTILE_KINDS for _ in range(args.per_kind)]
    random.Random(args.seed).shuffle(kinds)
    lines: Counter[str] = Counter()
    corrupt: Counter[str] = Counter()
    by_file: dict[Path, list[bytes]] = defaultdict(list)
    for i, record in enumerate(records):
        kind = kinds[i] if i < len(kinds) else None
        if kind is None:
            data, bad = record.to_json_line(), 0
        else:
            data, bad = hostile_chunk(kind, record)
            lines[kind] += data.count(b"\n")
            corrupt[kind] += bad
        day = datetime.fromtimestamp(record.timestamp, tz).date()
        by_file[settings.records_dir / f"usage_{day.isoformat()}.jsonl"].append(data)
    for path, chunks in by_file.items():
        path.write_bytes(b"".join(chunks))
    size_mb = sum(p.stat().st_size for p in by_file) / 2**20

    t0 = time.perf_counter()
    with UsageStore(settings) as store:
        added = store.refresh()
        ingest_s = time.perf_counter() - t0
        health = store.health()
        checks: dict[str, bool] = {}
        s = queries.summarize(store, None)
        checks["all-time calls, tokens, cost"] = (
            s.calls == len(records)
            and s.total_tokens == sum(r.total_tokens or 0 for r in records)
            and close(s.cost, math.fsum(r.cost for r in records))
        )
        per_day: dict[date, list[UsageRecord]] = defaultdict(list)
        per_month: dict[tuple[int, int], list[UsageRecord]] = defaultdict(list)
        for r in records:
            d = datetime.fromtimestamp(r.timestamp, tz).date()
            per_day[d].append(r)
            per_month[(d.year, d.month)].append(r)
        checks[f"each day's calls and cost ({len(per_day)} days)"] = all(
            (summary := queries.summarize(store, periods.day_range(tz, (end_day - d).days, end)[0])).calls
            == len(rs)
            and close(summary.cost, math.fsum(r.cost for r in rs))
            for end_day in [datetime.fromtimestamp(end, tz).date()]
            for d, rs in per_day.items()
        )
        checks[f"each month's calls and cost ({len(per_month)} months)"] = all(
            (summary := queries.summarize(store, periods.month_range(tz, y, m))).calls == len(rs)
            and close(summary.cost, math.fsum(r.cost for r in rs))
            for (y, m), rs in per_month.items()
        )
        counters = queries.metric_totals(store)
        checks["/metrics request and cost counters"] = sum(c["requests"] for c in counters) == len(
            records
        ) and close(math.fsum(c["cost"] for c in counters), math.fsum(r.cost for r in records))
        checks["records indexed"] = added == len(records) == health["records_indexed"]
        checks["corrupt lines counted"] = health["corrupt_lines"] == sum(corrupt.values())
        checks["duplicates counted once"] = health["duplicate_records"] == args.per_kind * (
            "duplicate" in HOSTILE_KINDS
        )

    print(f"{len(records):,} good records, {sum(lines.values()):,} lines in {len(lines)} hostile kinds, ")
    print(f"{size_mb:,.1f} MB in {len(by_file)} files; ingest {ingest_s:.2f} s")
    print()
    print(
        "| kind | lines written (the good record's included) | must count as corrupt | good records carried |"
    )
    print("|---|---|---|---|")
    for kind in HOSTILE_KINDS:
        print(f"| {kind} | {lines[kind]:,} | {corrupt[kind]:,} | {args.per_kind:,} |")
    print()
    print(
        f"index: {health['records_indexed']:,} records, {health['corrupt_lines']:,} corrupt lines, "
        f"{health['duplicate_records']:,} duplicates"
    )
    print()
    print("| total | equal to the good records' own |")
    print("|---|---|")
    for name, ok in checks.items():
        print(f"| {name} | {'yes' if ok else 'NO'} |")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
