"""Load on the monitor's real server (issue 8): N concurrent clients on the summary endpoints, ``/dashboard``
and the page while a writer process appends records through ``record_ai_usage``; then the records written
are compared with the records the server indexed.

    python benchmarks/web_load.py                              # 20 clients, 30 s, writer at 200 records/s
    python benchmarks/web_load.py --clients 50 --seconds 60 --rate 1000 --preload 100000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webserver import monitor_env, serve, write_sample_records

ENDPOINTS = [
    "/api/ai_usage/stats/current",
    "/api/ai_usage/stats/daily",
    "/api/ai_usage/stats/hourly",
    "/api/ai_usage/top_users",
    "/api/ai_usage/top_models",
    "/api/ai_usage/cost_trend",
    "/api/ai_usage/dashboard",
    "/api/ai_usage/dashboard?range_key=7d",
    "/static/ai_usage_monitor.html",
]

_WRITER = """
import sys, time
from ai_usage_monitor import record_ai_usage
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
written = 0
while (elapsed := time.monotonic() - start) < seconds:
    if written >= elapsed * rate:
        time.sleep(0.002)
        continue
    record_ai_usage("qwen-plus", "实时分析", 1000, 200, 500.0, written % 20 != 0,
                    anchor_id=f"anchor_{written % 300}", user_id=f"user_{written % 2000}",
                    error_msg=None if written % 20 else "Throttling")
    written += 1
print(written)
"""


async def _client(
    base_url: str, until: float, offset: int, latencies: list[float], errors: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        i = offset
        while time.monotonic() < until:
            path = ENDPOINTS[i % len(ENDPOINTS)]
            i += 1
            began = time.perf_counter()
            try:
                answer = await http.get(path)
                if answer.status_code != 200:
                    errors.append(f"{path}: {answer.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"{path}: {type(exc).__name__}")
            latencies.append(time.perf_counter() - began)


async def _load(base_url: str, clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.monotonic()
    await asyncio.gather(*(_client(base_url, start + seconds, n, latencies, errors) for n in range(clients)))
    return latencies, errors, time.monotonic() - start


def _indexed(base_url: str) -> int:
    count: int = httpx.get(f"{base_url}/health", timeout=10).json()["records_indexed"]
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=200.0, help="records per second the writer appends")
    parser.add_argument("--preload", type=int, default=5000, help="records written before the server starts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ai-usage-load-") as tmp:
        records = Path(tmp) / "records"
        write_sample_records(records, args.preload)
        with serve(records) as url:
            writer = subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(args.rate), str(args.seconds)],
                env=monitor_env(records),
                stdout=subprocess.PIPE,
                text=True,
            )
            latencies, errors, elapsed = asyncio.run(_load(url, args.clients, args.seconds))
            written = int(writer.communicate(timeout=60)[0].strip()) + args.preload
            deadline = time.monotonic() + 20
            while (indexed := _indexed(url)) < written and time.monotonic() < deadline:
                time.sleep(0.2)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"load: {args.clients} clients, {len(latencies)} requests in {elapsed:.1f} s = "
        f"{len(latencies) / elapsed:.0f} req/s, p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, {len(errors)} errors {sorted(set(errors))[:3] or ''}"
    )
    print(
        f"records: {written} written (preload {args.preload} + writer at {args.rate:g}/s), {indexed} indexed"
    )


if __name__ == "__main__":
    main()
