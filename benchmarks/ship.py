"""Ship benchmark (issue 12): records/s that ``ai-usage-monitor ship`` moves from JSONL into ClickHouse.

For each size, N synthetic records over 90 days are written beforehand (``store.py``'s generator: one
``usage_YYYY-MM-DD.jsonl`` per local day, ~700-byte lines), then a real ``ai-usage-monitor ship`` process
ships them into a fresh database of a local ``clickhouse-server`` (Debian's, started here on free ports).
Timed from the process start until its committed state holds all N records; the process's own CPU time and
the ClickHouse server's are given too, and ``SELECT count() … FINAL`` checks the count.

    python benchmarks/ship.py                              # 1M records
    python benchmarks/ship.py --records 1000000 10000000   # and 10M
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

from store import generate  # noqa: E402

from ai_usage_monitor.ship.state import ShipState, state_path  # noqa: E402
from ai_usage_monitor.store.clickhouse import ClickHouseClient, migrate  # noqa: E402
from ai_usage_monitor.store_url import parse_store_url  # noqa: E402
from ai_usage_monitor.testing.processes import stop_process  # noqa: E402
from tests.support.clickhouse import start_clickhouse  # noqa: E402


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ship_once(records_dir: Path, url: str, n: int, batch_size: int, server_pid: int) -> dict[str, Any]:
    """Run a shipper over ``records_dir`` until all ``n`` records are committed; its figures."""
    client = ClickHouseClient(parse_store_url(url))
    migrate(client)
    parsed = parse_store_url(url)
    state = state_path(records_dir, f"{parsed.host}_{parsed.port}_{parsed.database}")
    state.unlink(missing_ok=True)
    size = sum(p.stat().st_size for p in records_dir.glob("usage_*.jsonl"))
    server_cpu = cpu_of(server_pid)
    command = [sys.executable, "-c", "from ai_usage_monitor.cli import main; main()", "ship"]
    command += ["--store", url, "--records-dir", str(records_dir), "--batch-size", str(batch_size)]
    t0 = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = 0.0
    try:
        while ShipState.load(state).records < n:
            if process.poll() is not None:
                raise RuntimeError(f"the shipper exited with {process.returncode}")
            cpu = cpu_of(process.pid)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        cpu = cpu_of(process.pid)
    finally:
        stop_process(process)
    count = client.execute("SELECT count() FROM records FINAL")[0][0]
    client.close()
    return {
        "records": n,
        "bytes": size,
        "wall_s": wall,
        "rate": n / wall,
        "mb_s": size / wall / 1e6,
        "shipper_cpu_s": cpu,
        "server_cpu_s": cpu_of(server_pid) - server_cpu,
        "count_final": count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "ship")
    parser.add_argument("--keep", action="store_true", help="keep the records and the server's data")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    server = start_clickhouse(args.workdir / "clickhouse")
    results = []
    try:
        for i, n in enumerate(args.records):
            records_dir = args.workdir / f"records-{n}"
            made = generate(records_dir, n, time.time())
            print(f"{n:,} records written in {made:.1f} s", flush=True)
            url = server.url(f"ship_bench_{i}")
            result = ship_once(records_dir, url, n, args.batch_size, server.process.pid)
            results.append(result)
            print(
                f"{n:>12,} records {result['bytes'] / 1e6:8.0f} MB  {result['wall_s']:7.1f} s  "
                f"{result['rate']:>9,.0f} rec/s  {result['mb_s']:6.1f} MB/s  shipper CPU "
                f"{result['shipper_cpu_s']:.1f} s  server CPU {result['server_cpu_s']:.1f} s  "
                f"count FINAL {result['count_final']:,}",
                flush=True,
            )
            if not args.keep:
                shutil.rmtree(records_dir)
    finally:
        stop_process(server.process)
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print(f"batch size {args.batch_size:,}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
