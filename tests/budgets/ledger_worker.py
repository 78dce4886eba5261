"""A process of the ledger tests: ``python -m tests.budgets.ledger_worker SPEC_JSON``.

``mode = "hammer"``: threads reserve a worst case, wait a little, settle a random real cost below it, until
refused; prints one JSON line with what was settled and the refusals. ``mode = "hold"``: reserves once,
prints ``held`` and sleeps until killed (a process that dies holding a reservation). ``mode = "exit"``:
settles ``calls`` calls of ``actual`` each and exits without closing the ledger.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ai_usage_monitor.budgets import counter_map
from ai_usage_monitor.budgets.config import period_window
from ai_usage_monitor.budgets.ledger import Ledger, Refusal
from ai_usage_monitor.budgets.local_ledger import LocalLedger
from ai_usage_monitor.budgets.sliced_ledger import SlicedLedger

__all__ = ["main", "open_spec_ledger"]


def open_spec_ledger(spec: dict[str, Any]) -> Ledger:
    """The ledger a spec names: ``redis`` (a URL) or the local file of ``records_dir`` (its operations in
    Python with ``python_gate``); sliced if asked."""
    lease = float(spec.get("lease", 900.0))
    if spec.get("python_gate"):
        counter_map.COMPILED_GATE = None
    ledger: Ledger
    if spec.get("redis"):
        from ai_usage_monitor.budgets.redis_ledger import RedisLedger

        ledger = RedisLedger(spec["redis"], lease_seconds=lease)
    else:
        ledger = LocalLedger(Path(spec["records_dir"]), lease_seconds=lease)
    if spec.get("slice"):
        ledger = SlicedLedger(ledger, slice_fraction=float(spec["slice"]))
    return ledger


def _hammer(
    ledger: Ledger, spec: dict[str, Any], seed: int, out: dict[str, Any], lock: threading.Lock
) -> None:
    rng = random.Random(seed)
    window = period_window(time.time(), "day", ZoneInfo("Europe/Berlin"))
    worst, limit = float(spec["worst"]), float(spec["limit"])
    settled = 0.0
    calls = 0
    while True:
        reservation = ledger.reserve(spec["budget"], spec.get("scope", ""), window, worst, limit)
        if isinstance(reservation, Refusal):
            with lock:
                out["refusals"].append([reservation.spent, reservation.reserved])
            break
        time.sleep(rng.random() * 0.002)
        actual = round(rng.uniform(0.2, 1.0) * worst, 6)
        ledger.settle(reservation, actual)
        settled += actual
        calls += 1
    with lock:
        out["settled"] += settled
        out["calls"] += calls


def main() -> None:
    spec = json.loads(sys.argv[1])
    ledger = open_spec_ledger(spec)
    if spec["mode"] == "hold":
        window = period_window(time.time(), "day", ZoneInfo("Europe/Berlin"))
        held = ledger.reserve(spec["budget"], "", window, float(spec["worst"]), float(spec["limit"]))
        print("held" if not isinstance(held, Refusal) else "refused", flush=True)
        time.sleep(3600)
        return
    if spec["mode"] == "exit":  # a few calls, then exit without closing the ledger
        window = period_window(time.time(), "day", ZoneInfo("Europe/Berlin"))
        for _ in range(int(spec["calls"])):
            call = ledger.reserve(spec["budget"], "", window, float(spec["worst"]), float(spec["limit"]))
            assert not isinstance(call, Refusal)
            ledger.settle(call, float(spec["actual"]))
        return
    out: dict[str, Any] = {"settled": 0.0, "calls": 0, "refusals": []}
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_hammer, args=(ledger, spec, spec["seed"] * 100 + i, out, lock))
        for i in range(int(spec["threads"]))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
