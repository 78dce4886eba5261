"""/metrics and /dashboard over hostile records (issue 8 item 12): many distinct function or model names and
megabyte-long names and messages. Prints, per scenario, the /metrics series and bytes, the time of the
first scrape after the ingest (it rebuilds the all-time families), of a repeat scrape and of a scrape after
one more record was indexed (with the time from its write), and the size and time of a dashboard refresh.
The app runs in-process (its lifespan included) over a fresh records folder.

    python benchmarks/metrics_bounds.py                       # 100k functions, 20k models, huge names
    python benchmarks/metrics_bounds.py --functions 10000 --models 2000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi.testclient import TestClient

from ai_usage_monitor.api import create_app
from ai_usage_monitor.api.app import API_PREFIX
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord

TZ = "Asia/Shanghai"
REPEAT = 5


def records(kind: str, count: int, now: float) -> Iterator[UsageRecord]:
    """``count`` calls over the last hour, each with its own function (or model) name; ``huge``: three calls
    with a 1 MB model name, a 1 MB function name and a 20 MB error message."""
    if kind == "huge":
        yield UsageRecord(now - 30, model="m" * 1_000_000, provider="openai", cost=1.0, priced=True)
        yield UsageRecord(now - 20, function="f" * 1_000_000, provider="openai", cost=1.0, priced=True)
        yield UsageRecord(now - 10, model="gpt-4o", success=False, error_msg="e" * 20_000_000)
        return
    for i in range(count):
        name = f"{kind}-{i}"
        yield UsageRecord(
            now - 3600 + i * 3000 / count,
            provider="dashscope",
            model=name if kind == "model" else "qwen-plus",
            function=name if kind == "function" else "实时分析",
            input_tokens=100,
            output_tokens=10,
            cost=0.001 + i * 1e-7,
            priced=True,
            duration_ms=100.0 + i % 1000,
            success=i % 10 != 0,
        )


def write(records_dir: Path, batch: Iterator[UsageRecord]) -> int:
    """Append the records to their daily files, as the JSONL exporter lays them out; how many were written."""
    records_dir.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo(TZ)
    files: dict[str, list[bytes]] = {}
    for record in batch:
        day = datetime.fromtimestamp(record.timestamp, tz).date().isoformat()
        files.setdefault(day, []).append(record.to_json_line())
    for day, lines in files.items():
        with (records_dir / f"usage_{day}.jsonl").open("ab") as out:
            out.write(b"".join(lines))
    return sum(len(lines) for lines in files.values())


def timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    """Milliseconds ``call`` took, and its answer."""
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000.0, result


def scenario(kind: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            records_dir=root / "records",
            index_dir=root / "index",
            reports_dir=root / "reports",
            timezone=TZ,
            api_token=None,
        )
        written = write(settings.records_dir, records(kind, count, time.time()))
        with TestClient(create_app(settings)) as client:
            while (indexed := client.get("/health").json()["records_indexed"]) < written:
                time.sleep(0.1)
            first_ms, first = timed(lambda: client.get("/metrics"))
            again = [timed(lambda: client.get("/metrics"))[0] for _ in range(REPEAT)]
            body = first.content
            series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            dash = [
                timed(lambda: client.get(f"{API_PREFIX}/dashboard", params={"range": "today"}))
                for _ in range(REPEAT)
            ]
            dash_bytes = len(dash[-1][1].content)
            errors = client.get(f"{API_PREFIX}/recent_errors", params={"limit": 100}).content
            # one more record: the all-time families are rebuilt (by the ingest or by this scrape)
            appended_at = time.perf_counter()
            write(settings.records_dir, iter([UsageRecord(time.time(), model="qwen-plus", cost=0.001)]))
            while client.get("/health").json()["records_indexed"] <= indexed:
                time.sleep(0.01)
            after_ms = timed(lambda: client.get("/metrics"))[0]
            visible_ms = (time.perf_counter() - appended_at) * 1000.0
        label = f"{count:,} distinct {kind}s" if kind != "huge" else "1 MB names, 20 MB error message"
        print(
            f"{label:34} records {indexed:>7,}  /metrics {series:>6,} series {len(body) / 1e6:7.3f} MB"
            f"  first scrape {first_ms:8.1f} ms, again {statistics.median(again):6.1f} ms,"
            f" after 1 new record {after_ms:7.1f} ms ({visible_ms:7.1f} ms from the write)"
            f"  | dashboard {dash_bytes / 1e3:7.1f} kB {statistics.median(d[0] for d in dash):6.1f} ms"
            f"  | recent_errors {len(errors) / 1e3:6.1f} kB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--functions", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20_000)
    args = parser.parse_args()
    scenario("function", args.functions)
    scenario("model", args.models)
    scenario("huge", 3)


if __name__ == "__main__":
    main()
