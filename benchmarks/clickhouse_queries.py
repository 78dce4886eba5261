"""The summary endpoints' queries on ClickHouse beside the DuckDB index, at 1M and 10M records, one run.

For each size: N synthetic records over the 90 days ending now — for DuckDB written as JSONL by
``benchmarks/store.py``'s generator and ingested by ``UsageStore``; for ClickHouse generated server-side
(``INSERT … SELECT … FROM numbers(N)``, the same shape: 7 models, 5 functions, 2,000 users, 300 anchors,
2.5% failures) into a table made by ``store migrate`` on a ``clickhouse-server`` started for the run
(``clickhouse-server`` on PATH; Debian's is 18.16). Then every query of ``store.py``'s suite, computed
afresh each time: the DuckDB store's folded aggregates and the ClickHouse store's 1 s cache are dropped
before every timed call, so the figures are what an uncached answer costs on each engine.

    python benchmarks/clickhouse_queries.py                       # 1M and 10M
    python benchmarks/clickhouse_queries.py --records 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

import store as store_bench  # noqa: E402  (benchmarks/store.py)

from tests.support.clickhouse import start_clickhouse  # noqa: E402

DAYS = store_bench.DAYS


def generator_sql(n: int, end: float) -> str:
    """``INSERT INTO records … SELECT … FROM numbers(n)``: ``n`` rows over the ``DAYS`` days to ``end``."""
    from ai_usage_monitor.store.clickhouse.schema import insert_columns

    start = end - DAYS * 86400
    h = "intHash32(number * {k})"
    values = {
        "ts": f"round({start} + (number / {n}) * {DAYS * 86400}, 3)",
        "user_id": f"concat('user_', toString({h.format(k=3)} % 2000))",
        "anchor_id": f"concat('anchor_', toString({h.format(k=5)} % 300))",
        "session_id": "concat('session_', toString(intDiv(number, 40)))",
        "model": "arrayElement(['qwen-plus', 'qwen-max', 'qwen-turbo', 'qwen-flash', 'gpt-4o', "
        f"'gpt-4o-mini', 'new-model'], 1 + {h.format(k=7)} % 7)",
        "function": "arrayElement(['实时分析', '话术生成', '摘要', '翻译', '质检'], "
        f"1 + {h.format(k=11)} % 5)",
        "input_tokens": f"toInt64(100 + {h.format(k=13)} % 6000)",
        "output_tokens": f"toInt64(10 + {h.format(k=17)} % 1500)",
        "total_tokens": "input_tokens + output_tokens",
        "cost": "if(model = 'new-model', 0., round(input_tokens * 0.0000008 + output_tokens * 0.000002, 8))",
        "duration_ms": f"round(({h.format(k=19)} % 300000) / 10.0 + 50, 1)",
        "success": f"toUInt8({h.format(k=23)} % 40 != 0)",
        "error_msg": "if(success, NULL, 'Error code: 429 - rate limited')",
        "provider": "if(startsWith(model, 'gpt'), 'openai', 'dashscope')",
        "operation": "'chat'",
        "cached_tokens": f"toInt64({h.format(k=29)} % 500)",
        "reasoning_tokens": "toInt64(0)",
        "currency": "'CNY'",
        "priced": "toUInt8(model != 'new-model')",
        "price_ref": "if(priced, concat(provider, '/', model, '@2025-09-01#tier0'), NULL)",
        "stream": f"toUInt8({h.format(k=31)} % 3 = 0)",
        "source": "provider",
        "request_model": "CAST(NULL AS Nullable(String))",
        "error_type": "if(success, NULL, 'RateLimitError')",
        "usage_missing": "toUInt8(0)",
        "record_id": "concat(hex(intHash64(number)), hex(intHash64(number + 1)))",
    }
    columns = insert_columns()
    missing = [c for c in columns if c not in values]
    if missing:
        raise SystemExit(f"no generator for the new columns {missing}: add them to generate_clickhouse")
    select = ", ".join(f"{values[c]} AS {c}" for c in columns)
    return f"INSERT INTO records ({', '.join(columns)}) SELECT {select} FROM numbers({n})"


def generate_clickhouse(url: str, n: int, end: float) -> float:
    """Migrate the store at ``url`` and fill ``records`` with ``n`` rows server-side; returns seconds."""
    from ai_usage_monitor.store.clickhouse import ClickHouseClient, migrate
    from ai_usage_monitor.store_url import parse_store_url

    client = ClickHouseClient(parse_store_url(url), send_receive_timeout=3600)
    t0 = time.perf_counter()
    try:
        migrate(client)
        client.execute(generator_sql(n, end))
        client.execute("OPTIMIZE TABLE records FINAL")
    finally:
        client.close()
    return time.perf_counter() - t0


def statements_of(house: Any) -> dict[str, list[str]]:
    """The SQL each query of the suite sends to ClickHouse (one uncached call each)."""
    from ai_usage_monitor.store.clickhouse.client import observe_statements

    out: dict[str, list[str]] = {}
    for name, fn in store_bench.query_suite(house).items():
        house._cache.clear()
        with observe_statements(out.setdefault(name, []).append):
            fn()
    return out


def time_on_chdb(workdir: Path, n: int, end: float, sql: dict[str, list[str]], repeat: int) -> dict[str, Any]:
    """The same statements on chdb (the current engine, in-process) over the same rows: p50 per query."""
    from chdb.session import Session

    from ai_usage_monitor.store.clickhouse.schema import records_ddl

    session = Session(str(workdir / "chdb"))
    try:
        session.query("CREATE DATABASE IF NOT EXISTS bench")
        session.query("USE bench")
        session.query(records_ddl("bench.records"))
        session.query(generator_sql(n, end))
        session.query("OPTIMIZE TABLE bench.records FINAL")
        version = str(session.query("SELECT version()", "TabSeparated")).strip()
        timed: dict[str, dict[str, float]] = {}
        for name, statements in sql.items():
            timed[name] = store_bench.timings(lambda s=statements: [session.query(q) for q in s], repeat)
    finally:
        session.close()
    return {"version": version, "queries": timed}


def time_suite(store: Any, forget: Any, repeat: int) -> dict[str, dict[str, float]]:
    """p50/p95 of each query of ``store.py``'s suite, ``forget()`` (drop cached aggregates) before each."""
    return {
        name: store_bench.timings(fn, repeat, before=forget)
        for name, fn in store_bench.query_suite(store).items()
    }


def measure(n: int, workdir: Path, repeat: int) -> dict[str, Any]:
    from ai_usage_monitor.config import Settings
    from ai_usage_monitor.store.backend import open_store
    from ai_usage_monitor.testing.processes import stop_process

    out: dict[str, Any] = {}
    end = time.time()
    settings = store_bench.settings_for(workdir)
    out["duckdb_generate_s"] = store_bench.generate(settings.records_dir, n, end)
    with open_store(settings) as duck:
        t0 = time.perf_counter()
        duck.refresh()
        out["duckdb_ingest_s"] = time.perf_counter() - t0
        out["duckdb"] = time_suite(duck, duck._invalidate, repeat)  # type: ignore[attr-defined]
    shutil.rmtree(workdir / "records", ignore_errors=True)
    server = start_clickhouse(workdir / "clickhouse")
    try:
        url = server.url("bench")
        out["clickhouse_generate_s"] = generate_clickhouse(url, n, end)
        out["clickhouse_mb"] = float(
            server.http(
                "SELECT sum(bytes_on_disk) / 1048576 FROM system.parts WHERE active AND database = 'bench'"
            )
        )
        with open_store(Settings(store=url, timezone=store_bench.TZ)) as house:
            out["clickhouse"] = time_suite(house, house._cache.clear, repeat)  # type: ignore[attr-defined]
            out["clickhouse_version"] = ".".join(map(str, house.server_version))  # type: ignore[attr-defined]
            sql = statements_of(house)
    finally:
        stop_process(server.process)
    shutil.rmtree(workdir / "clickhouse", ignore_errors=True)
    chdb = time_on_chdb(workdir, n, end, sql, repeat)
    out["chdb"], out["chdb_version"] = chdb["queries"], chdb["version"]
    return out


ENGINES = (("duckdb", "DuckDB"), ("clickhouse", "ClickHouse 18.16"), ("chdb", "chdb"))


def table(results: dict[int, dict[str, Any]]) -> str:
    sizes = list(results)
    columns = " | ".join(f"{label} {n:,}" for n in sizes for _, label in ENGINES)
    rows = [f"| query (p50 ms, uncached) | {columns} |", "|---" * (1 + len(ENGINES) * len(sizes)) + "|"]
    for name in results[sizes[0]]["duckdb"]:
        cells = [f"{results[n][key][name]['p50_ms']:.1f}" for n in sizes for key, _ in ENGINES]
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query (after one warm-up)")
    args = parser.parse_args()
    results: dict[int, dict[str, Any]] = {}
    load = os.getloadavg()
    for n in args.records:
        with tempfile.TemporaryDirectory(prefix="ch-bench-") as tmp:
            print(f"[{n:,}] generating, loading and querying both stores …", flush=True)
            results[n] = measure(n, Path(tmp), args.repeat)
    print()
    print(f"load average before: {load}, after: {os.getloadavg()}; cores: {os.cpu_count()}")
    first = results[args.records[0]]
    print(f"ClickHouse server {first['clickhouse_version']}, chdb engine {first['chdb_version']}")
    for n, r in results.items():
        print(
            f"{n:,}: ClickHouse table {r['clickhouse_mb']:.0f} MB; load: JSONL ingest into DuckDB "
            f"{r['duckdb_ingest_s']:.1f} s, INSERT SELECT into ClickHouse {r['clickhouse_generate_s']:.1f} s"
        )
    print(table(results))
    for n, r in results.items():
        medians = {label: statistics.median(v["p50_ms"] for v in r[key].values()) for key, label in ENGINES}
        print(f"{n:,}: median of the p50s (ms):", ", ".join(f"{k} {v:.1f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
