"""Budget status benchmark (issue 10): what one read of the budgets' status costs (``GET
/api/ai_usage/budgets``, each ``/metrics`` scrape, ``ai-usage-monitor budgets``).

Two budgets (a team day and a quota per anchor for the month) over ``--days`` days of ``--per-day``
records this month. Read twice: while the ledger has not seen the periods (the records of the period are
read: one day's file for the day, every day's file for the month), and once it has (a ledger read). Best
of ``--repeats``.

    python benchmarks/budget_status.py
    python benchmarks/budget_status.py --per-day 10000 --days 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

from ai_usage_monitor.budgets.config import period_window
from ai_usage_monitor.budgets.current import current_status
from ai_usage_monitor.budgets.ledger import open_ledger
from ai_usage_monitor.budgets.seed import seed_from_records
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.support.records import write_records


def best_of(repeats: int, settings: Settings) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        current_status(settings, top_n=20)
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
        unseen = best_of(args.repeats, settings)
        ledger = open_ledger(settings)
        for budget in settings.budgets:
            window = period_window(now.timestamp(), budget.period, settings.tz)
            seed_from_records(ledger, budget, window, settings.records_dir, settings.tz)
        ledger.close()
        seen = best_of(args.repeats, settings)
    print(f"{len(records):,} records over {days} days, {args.anchors} anchors, best of {args.repeats}:")
    print(f"  status, periods the ledger has not seen (records read): {unseen * 1000:8.1f} ms")
    print(f"  status, periods the ledger has seen (ledger read):      {seen * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
