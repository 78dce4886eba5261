"""Budget ledger benchmark (issue 10): what one ``reserve`` + ``settle`` costs per call, ledger alone.

Backends: the records folder's ledger (the mapped counters file; also as a process runs it without the
compiled ``_ledger_ops``), Redis (a throw-away ``redis-server``
on 127.0.0.1 unless ``--redis URL``), and each of them behind per-process slices (``budget_slice``).
One budget, one scope value; every call reserves a worst case and settles a smaller real cost. Figures
are the median of ``--repeats`` runs of ``--calls`` calls each, in one thread and, with ``--threads N``,
in N threads of one process. Then the pure helpers the guard also runs per call (period window, scope
value, worst case), best of 3.

    python benchmarks/budget_ledger.py
    python benchmarks/budget_ledger.py --calls 20000 --threads 4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from ai_usage_monitor.budgets import counter_map
from ai_usage_monitor.budgets.config import Budget, PeriodClock, period_window, scope_value
from ai_usage_monitor.budgets.ledger import Ledger, Refusal
from ai_usage_monitor.budgets.local_ledger import LocalLedger
from ai_usage_monitor.budgets.redis_ledger import RedisLedger
from ai_usage_monitor.budgets.sliced_ledger import DEFAULT_SLICE_FRACTION, SlicedLedger
from ai_usage_monitor.budgets.worst_case import worst_case
from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing.pricer import Pricer
from ai_usage_monitor.testing.redis_server import RedisServer

#: a ¥50 daily budget, calls reserving ¥0.05 and costing ¥0.004: a slice (2% = ¥1) serves ~250 calls
LIMIT = 50.0
WORST = 0.05
ACTUAL = 0.004


def python_local(records: Path) -> Ledger:
    """The records folder's ledger as a process built without the compiled gate runs it."""
    kept = counter_map.COMPILED_GATE
    counter_map.COMPILED_GATE = None
    try:
        return LocalLedger(records)
    finally:
        counter_map.COMPILED_GATE = kept


def run_calls(ledger: Ledger, budget: str, calls: int, threads: int) -> float:
    """Seconds per reserve+settle pair, ``calls`` pairs spread over ``threads`` threads."""
    window = period_window(time.time(), "day", ZoneInfo("Asia/Shanghai"))

    def loop(n: int) -> None:
        for _ in range(n):
            reservation = ledger.reserve(budget, "", window, WORST, LIMIT)
            if isinstance(reservation, Refusal):
                raise RuntimeError("refused: the benchmark's limit is too low")
            ledger.settle(reservation, ACTUAL)

    per_thread = calls // threads
    if calls * ACTUAL > LIMIT - WORST:
        raise SystemExit(
            f"--calls {calls} would spend past the limit; use at most {int(LIMIT / ACTUAL) - 20}"
        )
    workers = [threading.Thread(target=loop, args=(per_thread,)) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - start) / (per_thread * threads)


def measure(name: str, make: Callable[[], Ledger], calls: int, repeats: int, threads: list[int]) -> None:
    ledger = make()
    run_calls(ledger, f"warm-{name}", min(calls, 200), 1)
    for n in threads:
        runs = [run_calls(ledger, f"{name}-{i}", calls, n) for i in range(repeats)]
        print(f"{name:<22} {n:>2} thread(s): {statistics.median(runs) * 1e6:8.1f} µs per reserve+settle")
    ledger.close()


def measure_pure_helpers(calls: int) -> None:
    """The rest of the guard's per-call budget work: the period window, the scope value, the worst case."""
    pricer = Pricer(Settings(currency="CNY"))
    clock = PeriodClock("day", ZoneInfo("Asia/Shanghai"))
    budget = Budget(name="per-anchor", limit=LIMIT, scope={"anchor_id": "*"})
    call = {"provider": "dashscope", "model": "qwen-plus", "anchor_id": "主播-7", "function": "实时分析"}
    messages = [
        {"role": "system", "content": "你是一个直播弹幕分析助手。"},
        {"role": "user", "content": "请分析这段直播的弹幕情绪：" + "主播好厉害！" * 40},
    ]
    helpers: list[tuple[str, Callable[[], object]]] = [
        ("PeriodClock.window", lambda: clock.window(time.time())),
        ("scope_value", lambda: scope_value(budget, call)),
        (
            "worst_case (2 messages)",
            lambda: worst_case(
                pricer, provider="dashscope", model="qwen-plus", messages=messages, max_tokens=800
            ),
        ),
    ]
    for name, helper in helpers:
        best = min(timeit.repeat(helper, number=calls, repeat=3)) / calls
        print(f"{name:<26} {best * 1e6:8.2f} µs per call")


@contextmanager
def redis_url(given: str | None, workdir: Path) -> Iterator[str]:
    if given:
        yield given
        return
    with RedisServer(workdir / "redis") as server:
        yield server.url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="also measure with this many threads")
    parser.add_argument("--slice", type=float, default=DEFAULT_SLICE_FRACTION)
    parser.add_argument("--redis", help="an existing Redis to use (default: start a redis-server)")
    args = parser.parse_args()
    threads = sorted({1, args.threads})
    with tempfile.TemporaryDirectory() as tmp, redis_url(args.redis, Path(tmp)) as url:
        records = Path(tmp) / "records"
        backends: list[tuple[str, Callable[[], Ledger]]] = [
            ("local", lambda: LocalLedger(records)),
            ("local, in Python", lambda: python_local(records)),
            ("local + slices", lambda: SlicedLedger(LocalLedger(records), slice_fraction=args.slice)),
            ("redis", lambda: RedisLedger(url)),
            ("redis + slices", lambda: SlicedLedger(RedisLedger(url), slice_fraction=args.slice)),
        ]
        print(f"{args.calls} calls × {args.repeats} runs, slice = {args.slice:g} of the limit")
        for name, make in backends:
            measure(name, make, args.calls, args.repeats, threads)
    measure_pure_helpers(args.calls)


if __name__ == "__main__":
    main()
