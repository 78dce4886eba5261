"""Budget status benchmark (issue 10): what one read of the budgets' status costs (``GET
/api/ai_usage/budgets``, each ``/metrics`` scrape, ``ai-usage-monitor budgets``).

Two budgets (a team day and a quota per anchor for the month) over ``--days`` days of ``--per-day``
records this month. While the ledger has not seen the periods their records are read: in full the first
time, then only what was appended since (``--new`` records before each read); once the ledger has seen
them, a ledger read. Best of ``--repeats``.

    python benchmarks/budget_status.py
    python benchmarks/budget_status.py --per-day 10000 --days 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ai_usage_monitor.budgets.config import period_window
from ai_usage_monitor.budgets.current import RecordedSpend, current_status
from ai_usage_monitor.budgets.ledger import open_ledger
from ai_usage_monitor.budgets.seed import seed_from_records
from ai_usage_monitor.budgets.status import build_status
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.support.records import write_records


def best_of(repeats: int, read: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
    """Best time of ``read()`` over ``repeats`` runs, ``before()`` run untimed ahead of each."""
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        read()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--days", type=int, default=6, help="days of records this month (at most today's day)"
    )
    parser.add_argument("--per-day", type=int, default=3000, help="records per day")
    parser.add_argument("--anchors", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new", type=int, default=1000, help="records appended before each warm read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            records_dir=Path(folder) / "records",
            index_dir=Path(folder) / "index",
            timezone="Asia/Shanghai",
            budgets=[
                {"name": "daily-total", "period": "day", "limit": 50.0},
                {"name": "主播月度额度", "period": "month", "limit": 300.0, "scope": {"anchor_id": "*"}},
            ],
        )
        now = datetime.now(settings.tz)
        days = min(args.days, now.day)
        records = [
            UsageRecord(
                timestamp=now.timestamp() - day * 86_400 - i * (60_000 / args.per_day) - 1,
                model="qwen-plus",
                anchor_id=f"主播-{i % args.anchors}",
                cost=0.004,
            )
            for day in range(days)
            for i in range(args.per_day)
        ]
        write_records(settings.records_dir, records, settings.tz)

        def status() -> object:
            return current_status(settings, top_n=20)

        def cold() -> object:  # a reader that has read nothing yet: every file of the period in full
            return build_status(
                settings.budgets,
                [],
                RecordedSpend(settings.records_dir, settings.tz),
                now=time.time(),
                tz=settings.tz,
                top_n=20,
            )

        def append() -> None:
            fresh = [
                UsageRecord(timestamp=time.time() - 1, model="qwen-plus", anchor_id=f"主播-{i}", cost=0.004)
                for i in range(args.new)
            ]
            write_records(settings.records_dir, fresh, settings.tz)

        figures = {
            "first read (every file of the period parsed)": best_of(args.repeats, cold),
            "again, nothing new": best_of(args.repeats, status, status),
            f"again, {args.new:,} new records": best_of(args.repeats, status, append),
        }
        ledger = open_ledger(settings)
        for budget in settings.budgets:
            window = period_window(now.timestamp(), budget.period, settings.tz)
            seed_from_records(ledger, budget, window, settings.records_dir, settings.tz)
        ledger.close()
        figures["the ledger has seen the periods (ledger read)"] = best_of(args.repeats, status)
    print(f"{len(records):,} records over {days} days, {args.anchors} anchors, best of {args.repeats}:")
    for name, seconds in figures.items():
        print(f"  {name:<50} {seconds * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
