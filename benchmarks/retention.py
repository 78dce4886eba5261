"""Retention's costs: gzipping old day files (speed and ratio), the index taking the ``.gz`` files over
(what a running server pays once per compressed day), and a rebuild from ``.gz`` beside one from plain files.

    python benchmarks/retention.py [--records 300000] [--days 30]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.retention import apply_retention

T = TypeVar("T")

MODELS = ("qwen-plus", "qwen-max", "qwen-turbo", "gpt-4o", "gpt-4o-mini")
FUNCTIONS = ("实时分析", "话术生成", "弹幕回复", "商品讲解", None)


def write_history(folder: Path, records: int, days: int) -> int:
    """``records`` varied records spread over the ``days`` days before now, one file per local day."""
    rnd = random.Random(1)
    now = time.time()
    by_file: dict[str, list[bytes]] = {}
    for i in range(records):
        ts = now - rnd.uniform(0, days * 86400)
        record = UsageRecord(
            timestamp=ts,
            model=rnd.choice(MODELS),
            function=rnd.choice(FUNCTIONS),
            user_id=f"user_{rnd.randrange(2000):04d}",
            anchor_id=f"anchor_{rnd.randrange(300)}",
            session_id=f"session_{i % 5000}",
            input_tokens=rnd.randint(10, 5000),
            output_tokens=rnd.randint(0, 2000),
            cost=rnd.uniform(0, 0.05),
            duration_ms=rnd.uniform(50, 30000),
            priced=True,
        )
        day = time.strftime("%Y-%m-%d", time.localtime(ts))
        by_file.setdefault(day, []).append(record.to_json_line())
    folder.mkdir(parents=True)
    size = 0
    for day, lines in by_file.items():
        path = folder / f"usage_{day}.jsonl"
        path.write_bytes(b"".join(lines))
        os.utime(path, (now - 7200, now - 7200))
        size += path.stat().st_size
    return size


def timed(label: str, action: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = action()
    print(f"{label:<44} {time.perf_counter() - started:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ai-usage-retention-"))
    try:
        settings = Settings(records_dir=root / "records", timezone="UTC", retention_days=2)
        os.environ["TZ"] = "UTC"
        time.tzset()
        plain = write_history(settings.records_dir, args.records, args.days)
        files = len(list(settings.records_dir.iterdir()))
        print(f"{args.records:,} records in {files} day files, {plain / 1e6:,.1f} MB")
        with UsageStore(settings) as store:
            timed("index from plain files (first ingest)", store.refresh)
            timed("rebuild from plain files (reindex)", store.rebuild)
            report = timed("compress the old day files", lambda: apply_retention(settings, None))
            packed = sum(c.gz_bytes for c in report.compressed)
            done = sum(c.plain_bytes for c in report.compressed)
            ratio = done / max(packed, 1)
            files = len(report.compressed)
            print(f"  {files} files, {done / 1e6:,.1f} MB → {packed / 1e6:,.1f} MB ({ratio:.1f}×)")
            timed("index takes the .gz files over (refresh)", store.refresh)
            timed("rebuild from .gz (reindex)", store.rebuild)
            calls = store.query("SELECT count(*) FROM records")[0][0]
            print(f"  {calls:,} records indexed after the rebuild")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
