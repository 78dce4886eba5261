"""Store benchmark (issue 3 §6): first ingest, warm query latency, visibility of new records, restart, memory.

Generates N synthetic records over the 90 days ending now (DuckDB writes the JSONL in bulk, one file per
local day, lines shaped like ``UsageRecord.to_json_line()``), then, each in a fresh process so memory
figures belong to the store alone: ingests them with a progress callback, times every query the summary
endpoints use (directly and over HTTP; the dashboard for each of its ranges, and the dashboard and /metrics
again with one record ingested before each request), the delay until an appended record shows, a restart
over the existing index, and a plain orjson scan of the same JSONL for comparison.

    python benchmarks/store.py                      # 1M and 10M records
    python benchmarks/store.py --records 1000000    # one size
    python benchmarks/store.py --records 1000000 --keep ... --reuse   # measure again, same records
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

TZ = "Asia/Shanghai"
DAYS = 90
DASHBOARD_RANGES = ("1h", "today", "7d", "30d", "month")
ROOT = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------- data
def generate(records_dir: Path, n: int, end: float) -> float:
    """Write ``n`` records over the ``DAYS`` days before ``end``, one ``usage_YYYY-MM-DD.jsonl`` a day."""
    import duckdb

    shutil.rmtree(records_dir, ignore_errors=True)
    records_dir.mkdir(parents=True)
    staging = records_dir / "staging"
    start = end - DAYS * 86400
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{TZ}'")
    h = "(hash(i * {k}) % 1000003)::BIGINT"
    con.execute(
        f"""COPY (SELECT
          round({start} + (i::DOUBLE / {n}) * {DAYS * 86400}, 3) AS timestamp,
          'user_' || lpad(({h.format(k=3)} % 2000)::VARCHAR, 4, '0') AS user_id,
          'anchor_' || ({h.format(k=5)} % 300)::VARCHAR AS anchor_id,
          'session_' || (i // 40)::VARCHAR AS session_id,
          ['qwen-plus', 'qwen-max', 'qwen-turbo', 'qwen-flash', 'gpt-4o', 'gpt-4o-mini', 'new-model']
            [1 + {h.format(k=7)} % 7] AS model,
          ['实时分析', '话术生成', '摘要', '翻译', '质检'][1 + {h.format(k=11)} % 5] AS function,
          100 + {h.format(k=13)} % 6000 AS input_tokens,
          10 + {h.format(k=17)} % 1500 AS output_tokens,
          input_tokens + output_tokens AS total_tokens,
          CASE WHEN model = 'new-model' THEN 0.0
               ELSE round(input_tokens * 0.0000008 + output_tokens * 0.000002, 8) END AS cost,
          round(({h.format(k=19)} % 300000) / 10.0 + 50, 1) AS duration_ms,
          {h.format(k=23)} % 40 <> 0 AS success,
          CASE WHEN success THEN NULL ELSE 'Error code: 429 - rate limited' END AS error_msg,
          CASE WHEN model LIKE 'gpt%' THEN 'openai' ELSE 'dashscope' END AS provider,
          'chat' AS operation, {h.format(k=29)} % 500 AS cached_tokens, 0 AS reasoning_tokens,
          'CNY' AS currency, model <> 'new-model' AS priced,
          CASE WHEN priced THEN provider || '/' || model || '@2025-09-01#tier0' END AS price_ref,
          {h.format(k=31)} % 3 = 0 AS stream,
          printf('%016x%016x', hash(i), hash(i + 1)) AS request_id,
          printf('%016x%016x', hash(i + 2), hash(i + 3)) AS trace_id,
          printf('%016x', hash(i + 4)) AS span_id,
          provider AS source,
          MAP {{'team': ['直播', 'search', 'ops'][1 + {h.format(k=37)} % 3], 'env': 'prod'}} AS tags,
          printf('%016x%016x', hash(i + 5), hash(i + 6)) AS record_id, 1 AS v,
          NULL::VARCHAR AS request_model,
          CASE WHEN success THEN NULL ELSE 'RateLimitError' END AS error_type, false AS usage_missing,
          ['live-api', 'batch-worker', '客服'][1 + {h.format(k=41)} % 3] AS service,
          'pod-' || ({h.format(k=43)} % 20)::VARCHAR AS host,
          strftime(to_timestamp(timestamp), '%Y-%m-%d') AS day
          FROM range({n}) t(i)) TO '{staging}' (FORMAT json, PARTITION_BY (day))"""
    )
    con.close()
    for part in staging.iterdir():
        (file,) = part.iterdir()
        file.rename(records_dir / f"usage_{part.name.split('=', 1)[1]}.jsonl")
        part.rmdir()
    staging.rmdir()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------- helpers
def rss_mb() -> dict[str, float]:
    """Current and peak resident memory of this process, in MB (``ru_maxrss`` survives exec on Linux, so
    the peak is read from ``/proc`` where it exists)."""
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        current, peak = (int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))
    else:
        current = peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rss_mb": round(current, 1), "peak_rss_mb": round(peak, 1)}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timings(fn: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None) -> dict[str, float]:
    """p50/p95 of ``repeat`` calls after an untimed first one (its time is ``first_ms``); ``before`` runs
    untimed ahead of every call."""
    samples = []
    for _ in range(repeat + 1):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    first, samples = samples[0], sorted(samples[1:])
    return {
        "first_ms": first,
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[max(0, int(len(samples) * 0.95) - 1)],
    }


def settings_for(workdir: Path) -> Any:
    from ai_usage_monitor.config import Settings

    return Settings(records_dir=workdir / "records", index_dir=workdir / "index", timezone=TZ)


#: the /metrics histograms' bucket bounds (seconds; tokens)
HISTOGRAM_BUCKETS = [0.01 * 2**i for i in range(14)]
TOKEN_BUCKETS = [float(4**i) for i in range(14)]


def query_suite(store: Any) -> dict[str, Callable[[], Any]]:
    """Every query behind the summary endpoints, /metrics and the report, by name (any ``Store``)."""
    from ai_usage_monitor.store import periods, queries, reports, summaries

    week, _ = periods.last_days(store.tz, 7)
    month, _ = periods.last_days(store.tz, 30)
    return {
        "stats/current": lambda: summaries.current_stats(store),
        "stats/hourly": lambda: summaries.hourly_summary(store, 1),
        "stats/daily": lambda: summaries.daily_summary(store, 1),
        "stats/monthly": lambda: summaries.monthly_summary(store),
        "stats/session": lambda: summaries.session_stats(store, "session_12345"),
        "top_users 7d": lambda: summaries.top_users(store, 10, 7),
        "top_users 90d": lambda: summaries.top_users(store, 100, 90),
        "top anchors 30d": lambda: queries.ranking(store, "anchor_id", month, 10),
        "cost_trend 30d": lambda: summaries.cost_trend_days(store, 30),
        "cost_trend 90d": lambda: summaries.cost_trend_days(store, 90),
        "latency 7d": lambda: queries.latency_by_model(store, week),
        "recent_errors": lambda: queries.recent_errors(store, 20),
        "unpriced 30d": lambda: queries.unpriced_models(store, month),
        "metrics totals": lambda: queries.metric_totals(store),
        "metrics histograms": lambda: (
            queries.duration_histogram(store, HISTOGRAM_BUCKETS),
            queries.token_histogram(store, TOKEN_BUCKETS),
        ),
        "report 30d": lambda: reports.build_report(store, 30),
    }


# ---------------------------------------------------------------------------------------------- phases
def measure(workdir: Path, repeat: int, http: bool) -> dict[str, Any]:
    """First ingest, warm queries, visibility of an appended record. Runs in its own process."""
    from ai_usage_monitor.records import UsageRecord
    from ai_usage_monitor.store import periods, queries
    from ai_usage_monitor.store.index import UsageStore

    settings = settings_for(workdir)
    shutil.rmtree(settings.index_path, ignore_errors=True)
    out: dict[str, Any] = {}
    progress_calls = 0

    def progress(done: int, total: int) -> None:
        nonlocal progress_calls
        progress_calls += 1

    store = UsageStore(settings)
    t0, c0 = time.perf_counter(), cpu_seconds()
    n = store.refresh(progress)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    out["ingest"] = {
        "records": n,
        "seconds": wall,
        "cpu_seconds": cpu,
        "records_per_s": n / wall,
        "bytes": store.bytes_read,
        "progress_calls": progress_calls,
        "index_mb": (settings.index_path / "usage.duckdb").stat().st_size / 2**20,
    }
    out["after_ingest"] = rss_mb()
    tz = store.tz
    buckets, token_buckets = HISTOGRAM_BUCKETS, TOKEN_BUCKETS
    suite = query_suite(store)
    t0 = time.perf_counter()
    queries.metric_totals(store)
    queries.duration_histogram(store, buckets)
    queries.token_histogram(store, token_buckets)
    out["metrics_first_scrape_s"] = time.perf_counter() - t0
    out["queries"] = {name: timings(fn, repeat) for name, fn in suite.items()}
    out["after_queries"] = rss_mb()
    if http:
        out["http"] = measure_http(store, repeat)
        out["after_http"] = rss_mb()

    # visibility: append one record, see it in the current hour's summary
    store.start_tailing()
    delays = []
    for i in range(5):
        model = f"visible-{i}"
        now = time.time()
        path = settings.records_dir / f"usage_{datetime.fromtimestamp(now, tz).date().isoformat()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        t0 = time.perf_counter()
        os.write(fd, UsageRecord(timestamp=now, model=model).to_json_line())
        os.close(fd)
        while model not in queries.summarize(store, periods.hour_range(tz, 0)).by_model:
            if time.perf_counter() - t0 > 10:
                raise RuntimeError("an appended record did not show within 10 s")
            time.sleep(0.005)
        delays.append(time.perf_counter() - t0)
        time.sleep(0.1)
    out["visible_after_s"] = {"median": statistics.median(delays), "max": max(delays)}
    out["final"] = rss_mb()
    store.close()
    return out


def measure_http(store: Any, repeat: int) -> dict[str, Any]:
    """The same endpoints through the REST API (in-process uvicorn on a free loopback port)."""
    try:
        import httpx
        import uvicorn

        from ai_usage_monitor.api.app import create_app
    except ImportError as exc:
        return {"skipped": f"REST API not available: {exc}"}
    server = uvicorn.Server(
        uvicorn.Config(create_app(store=store), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    paths = {
        "GET /stats/current": "/api/ai_usage/stats/current",
        "GET /stats/daily": "/api/ai_usage/stats/daily?days_ago=1",
        "GET /stats/hourly": "/api/ai_usage/stats/hourly?hours_ago=1",
        "GET /stats/monthly": "/api/ai_usage/stats/monthly",
        "GET /top_users 7d": "/api/ai_usage/top_users?limit=10&days=7",
        "GET /top_users 90d": "/api/ai_usage/top_users?limit=100&days=90",
        "GET /cost_trend 30d": "/api/ai_usage/cost_trend?days=30",
        **{f"GET /dashboard {key}": f"/api/ai_usage/dashboard?range={key}" for key in DASHBOARD_RANGES},
        "GET /metrics": "/metrics",
        "GET /health": "/health",
    }
    # The same routes when each request is the first after an ingest batch: what cached aggregates cost to
    # fold forward while records keep arriving.
    after_batch = [f"GET /dashboard {key}" for key in DASHBOARD_RANGES] + ["GET /metrics"]
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for name, path in paths.items():

                def get(path: str = path) -> None:
                    client.get(path).raise_for_status()

                try:
                    out[name] = timings(get, repeat)
                    if name in after_batch:
                        out[f"{name} after a batch"] = timings(get, repeat, lambda: append_record(store))
                except httpx.HTTPError as exc:
                    out[name] = {"error": str(exc)}
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return out


def append_record(store: Any, model: str = "appended") -> None:
    """One record written to today's file with one ``os.write``, then ingested (one new batch)."""
    from ai_usage_monitor.records import UsageRecord

    now = time.time()
    day = datetime.fromtimestamp(now, store.tz).date().isoformat()
    fd = os.open(store.records_dir / f"usage_{day}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, UsageRecord(timestamp=now, model=model, cost=0.001, priced=True).to_json_line())
    finally:
        os.close(fd)
    store.refresh()  # ingests it, unless the server's tail thread just did


def restart(workdir: Path) -> dict[str, Any]:
    """Open the existing index again and catch up: nothing is re-read."""
    from ai_usage_monitor.store import summaries
    from ai_usage_monitor.store.index import UsageStore

    t0 = time.perf_counter()
    store = UsageStore(settings_for(workdir))
    opened = time.perf_counter() - t0
    added = store.refresh()
    caught_up = time.perf_counter() - t0
    summaries.current_stats(store)
    first_answer = time.perf_counter() - t0
    out = {
        "open_s": opened,
        "caught_up_s": caught_up,
        "first_answer_s": first_answer,
        "records_added": added,
        "bytes_read": store.bytes_read,
        "records_indexed": store.health()["records_indexed"],
        **rss_mb(),
    }
    store.close()
    return out


def scan(workdir: Path) -> dict[str, Any]:
    """The baseline: read every JSONL line with orjson and total one day, as a store-less reader would."""
    import orjson

    from ai_usage_monitor.store import periods
    from ai_usage_monitor.store.index import RECORD_FILE_RE

    settings = settings_for(workdir)
    rng, _ = periods.day_range(settings.tz, 1)
    t0, c0 = time.perf_counter(), cpu_seconds()
    lines = calls = 0
    cost = 0.0
    for path in sorted(settings.records_dir.iterdir()):
        if not RECORD_FILE_RE.fullmatch(path.name):
            continue
        with path.open("rb") as f:
            for line in f:
                lines += 1
                rec = orjson.loads(line)
                if rng.start <= rec["timestamp"] < rng.end:
                    calls += 1
                    cost += rec["cost"]
    wall = time.perf_counter() - t0
    return {"seconds": wall, "cpu_seconds": cpu_seconds() - c0, "lines": lines, "records_per_s": lines / wall}


# ---------------------------------------------------------------------------------------------- driver
def run_phase(phase: str, workdir: Path, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--workdir", str(workdir), *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fmt_table(results: dict[int, dict[str, Any]]) -> str:
    sizes = sorted(results)
    head = "| measure | " + " | ".join(f"{n:,} records" for n in sizes) + " |"
    rows = [head, "|---|" + "---|" * len(sizes)]

    def row(label: str, get: Callable[[dict[str, Any]], str]) -> None:
        rows.append(f"| {label} | " + " | ".join(get(results[n]) for n in sizes) + " |")

    row(
        "generate JSONL (s, MB)",
        lambda r: f"{r['generate_s']:.1f} s, {r['jsonl_mb']:,.0f} MB" if r["generate_s"] else "reused",
    )
    row(
        "first ingest (wall / CPU s)",
        lambda r: f"{r['measure']['ingest']['seconds']:.2f} / {r['measure']['ingest']['cpu_seconds']:.2f}",
    )
    row("first ingest rate", lambda r: f"{r['measure']['ingest']['records_per_s']:,.0f} rec/s")
    row("index size", lambda r: f"{r['measure']['ingest']['index_mb']:,.0f} MB")
    row("orjson line scan (wall s)", lambda r: f"{r['scan']['seconds']:.2f}")
    row("orjson scan rate", lambda r: f"{r['scan']['records_per_s']:,.0f} rec/s")

    def timed(section: str, name: str, r: dict[str, Any]) -> str:
        t = r["measure"].get(section, {}).get(name, {})
        if "p50_ms" not in t:
            return "n/a"
        return "{p50_ms:.1f} / {p95_ms:.1f} ({first_ms:.0f})".format(**t)

    for name in results[sizes[0]]["measure"]["queries"]:
        row(f"`{name}` p50 / p95 (first) ms", functools.partial(timed, "queries", name))
    for name, first in results[sizes[0]]["measure"].get("http", {}).items():
        if isinstance(first, dict) and "p50_ms" in first:
            row(f"HTTP `{name}` p50 / p95 (first) ms", functools.partial(timed, "http", name))
    row("first /metrics aggregation (s)", lambda r: f"{r['measure']['metrics_first_scrape_s']:.2f}")
    row(
        "new record visible after (median / max s)",
        lambda r: "{median:.3f} / {max:.3f}".format(**r["measure"]["visible_after_s"]),
    )
    row(
        "restart: open + catch up (s)",
        lambda r: (
            f"{r['restart']['open_s']:.3f} + {r['restart']['caught_up_s'] - r['restart']['open_s']:.3f}"
        ),
    )
    row("restart: bytes re-read", lambda r: f"{r['restart']['bytes_read']:,}")
    row("RSS after ingest (MB)", lambda r: f"{r['measure']['after_ingest']['rss_mb']:,.0f}")
    row(
        "RSS serving, current / peak (MB)",
        lambda r: f"{r['measure']['final']['rss_mb']:,.0f} / {r['measure']['final']['peak_rss_mb']:,.0f}",
    )
    row("RSS after restart (MB)", lambda r: f"{r['restart']['rss_mb']:,.0f}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "store")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per query (after one warm-up)")
    parser.add_argument("--no-http", action="store_true", help="skip the REST API timings")
    parser.add_argument("--keep", action="store_true", help="keep the generated records and index")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the records a --keep run left instead of generating"
    )
    parser.add_argument("--phase", choices=["measure", "restart", "scan"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phases: dict[str, Callable[[], dict[str, Any]]] = {
            "measure": lambda: measure(args.workdir, args.repeat, not args.no_http),
            "restart": lambda: restart(args.workdir),
            "scan": lambda: scan(args.workdir),
        }
        print(json.dumps(phases[args.phase]()))
        return
    results: dict[int, dict[str, Any]] = {}
    load_before = os.getloadavg()
    for n in args.records:
        workdir = args.workdir / str(n)
        gen_s = None
        if not (args.reuse and (workdir / "records").is_dir()):
            print(f"[{n:,}] generating {n:,} records over {DAYS} days …", flush=True)
            gen_s = generate(workdir / "records", n, time.time())
        jsonl_mb = sum(p.stat().st_size for p in (workdir / "records").iterdir()) / 2**20
        extra = [f"--repeat={args.repeat}"] + (["--no-http"] if args.no_http else [])
        print(f"[{n:,}] ingest + queries …", flush=True)
        measured = run_phase("measure", workdir, *extra)
        print(f"[{n:,}] restart …", flush=True)
        restarted = run_phase("restart", workdir)
        print(f"[{n:,}] orjson scan …", flush=True)
        scanned = run_phase("scan", workdir)
        results[n] = {
            "generate_s": gen_s,
            "jsonl_mb": jsonl_mb,
            "measure": measured,
            "restart": restarted,
            "scan": scanned,
        }
        (args.workdir / f"results-{n}.json").write_text(json.dumps(results[n], indent=2))
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"load average before: {load_before}, after: {os.getloadavg()}; cores: {os.cpu_count()}")
    print(fmt_table(results))


if __name__ == "__main__":
    main()
