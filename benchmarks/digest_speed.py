"""How long the server's digest thread works once a day: ``render_digest`` (spend, week-before change,
top lists, forecast, advice over 30 days) over N synthetic DashScope calls spread over 30 days.

The calls are ``advice_speed``'s; the digest is asked on the day after them. Usage:
``python benchmarks/digest_speed.py [calls ...]`` (default 20000 100000).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from advice_speed import DAYS, START
from advice_speed import _records as synthetic_calls

from ai_usage_monitor.config import Settings
from ai_usage_monitor.insights.digest_schedule import render_digest
from ai_usage_monitor.store.index import UsageStore


def measure(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(records_dir=Path(tmp) / "records", timezone="UTC", pricing_file=None)
        settings.records_dir.mkdir(parents=True)
        with (settings.records_dir / "usage_2026-11-01.jsonl").open("wb") as out:
            for record in synthetic_calls(n):
                out.write(record.to_json_line())
        with UsageStore(settings) as store:
            store.refresh()
            now = START + DAYS * 86400 + 9 * 3600
            times = {}
            for kind in ("daily", "weekly"):
                began = time.perf_counter()
                message = render_digest(store, kind, now)
                times[kind] = time.perf_counter() - began
    shown = ", ".join(f"{kind} {took:5.2f} s" for kind, took in times.items())
    print(f"{n:>8,} calls: {shown} ({len(message.body.encode())} bytes of markdown)")


def main() -> None:
    for n in [int(arg) for arg in sys.argv[1:]] or [20_000, 100_000]:
        measure(n)


if __name__ == "__main__":
    main()
