"""How long ``GET /api/ai_usage/advice`` takes to compute: ``advise`` over N synthetic DashScope calls.

Each call is re-priced under its own model and every same-kind model of its provider, so the time grows
with calls × candidates; the figures say how large a window the endpoint serves in about a second.
Usage: ``python benchmarks/advice_speed.py [calls ...]`` (default 20000 100000).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ai_usage_monitor.config import Settings
from ai_usage_monitor.insights import advise
from ai_usage_monitor.pricing import Pricer
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import TimeRange

START = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
DAYS = 30
MODELS = ("qwen-plus", "qwen-max", "qwen-turbo", "qwen-flash", "text-embedding-v4")
FUNCTIONS = ("实时分析", "话术生成", "弹幕回复", "摘要", "翻译", "推荐")


def _records(n: int, seed: int = 1) -> list[UsageRecord]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        inp = rnd.choice((800, 3_000, 20_000, 150_000))
        out.append(
            UsageRecord(
                timestamp=START + rnd.uniform(0, DAYS * 86400),
                provider="dashscope",
                model=rnd.choice(MODELS),
                function=rnd.choice(FUNCTIONS),
                input_tokens=inp,
                output_tokens=rnd.randint(0, 2_000),
                cached_tokens=rnd.choice((0, 0, inp // 4)),
                reasoning_tokens=rnd.choice((0, 0, 300)),
                success=rnd.random() > 0.05,
                cost=0.001,
                priced=True,
            )
        )
    return out


def measure(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(records_dir=Path(tmp) / "records", timezone="UTC", pricing_file=None)
        settings.records_dir.mkdir(parents=True)
        with (settings.records_dir / "usage_2026-11-01.jsonl").open("wb") as out:
            for record in _records(n):
                out.write(record.to_json_line())
        with UsageStore(settings) as store:
            store.refresh()
            pricer = Pricer(settings)
            began = time.perf_counter()
            items = advise(store, pricer, TimeRange(START, START + DAYS * 86400))
            took = time.perf_counter() - began
    print(f"{n:>8,} calls: advise {took:6.2f} s ({took / n * 1e6:5.1f} µs/call), {len(items)} items")


def main() -> None:
    for n in [int(arg) for arg in sys.argv[1:]] or [20_000, 100_000]:
        measure(n)


if __name__ == "__main__":
    main()
