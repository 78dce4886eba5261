"""The budget guard's own time inside real calls: ``BudgetGuard.before`` and ``after`` timed in place.

Real OpenAI chat and DashScope ``Generation.call`` calls against the fake provider (its own process), the
monitor instrumented with one ``block`` budget matching every call (a limit never reached), on the
records folder's ledger (``--slice F``: behind slices). Only the guard's two methods are timed, in the
calling thread, right after real network I/O (caches as cold as in a real call): a companion to
``overhead.py --guard``, whose end-to-end figures the machine's noise blurs. ``--profile`` prints where
the guard's time goes (cProfile, switched on only inside the two methods; the profiler inflates the
figures, read it for proportions).

``--python-ledger``: the ledger's operations in Python, as in a process built without ``_ledger_ops``.

    python benchmarks/guard_path.py [--calls 2000] [--slice 0.02] [--python-ledger] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dashscope
import openai
from overhead import MESSAGES, fake_provider_process, wait_for_pricing_warm_up

import ai_usage_monitor
from ai_usage_monitor.budgets import counter_map
from ai_usage_monitor.recorder import get_recorder


def timed(method: Callable[..., Any], spent: list[float], profiler: cProfile.Profile | None) -> Any:
    """``method`` recording its duration (µs) in ``spent``, profiled when a profiler is given."""

    def run(*args: Any, **kwargs: Any) -> Any:
        if profiler is not None:
            profiler.enable()
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent.append((time.perf_counter() - start) * 1e6)
            if profiler is not None:
                profiler.disable()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--slice", type=float, default=0.0, help="budget_slice (0: no slices)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--python-ledger", action="store_true", help="without the compiled ledger gate")
    args = parser.parse_args()
    if args.python_ledger:
        counter_map.COMPILED_GATE = None
    with tempfile.TemporaryDirectory() as tmp, fake_provider_process() as urls:
        client = openai.OpenAI(base_url=urls["OpenAI"], api_key="bench", max_retries=0)
        dashscope.base_http_api_url = urls["DashScope"]
        dashscope.api_key = "bench"
        ai_usage_monitor.instrument(
            records_dir=Path(tmp) / "records",
            timezone="Asia/Shanghai",
            provider_hosts={"127.0.0.1": "openai"},
            budgets=[{"name": "bench", "limit": 1e9, "action": "block"}],
            budget_slice=args.slice,
        )
        wait_for_pricing_warm_up()
        guard = get_recorder().guard
        assert guard is not None
        calls: dict[str, Callable[[], Any]] = {
            "OpenAI chat": lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
            "DashScope Generation.call": lambda: dashscope.Generation.call(
                model="qwen-plus", messages=MESSAGES, result_format="message"
            ),
        }
        before, after = guard.before, guard.after
        reserve, settle = guard.ledger.reserve, guard.ledger.settle
        worst_case = guard.rates.call_cost
        ledger = ("slices" if args.slice else "no slices") + (", in Python" if args.python_ledger else "")
        print(f"{args.calls} calls each (+{args.warmup} warm-up), one local block budget, {ledger}; medians")
        print(
            f"{'call':<28}{'before µs':>10}{'after µs':>10}{'both µs':>10}{'both p90':>10}{'ledger µs':>11}"
            f"{'worst case µs':>15}"
        )
        for name, call in calls.items():
            for _ in range(args.warmup):
                call()
            profiler = cProfile.Profile() if args.profile else None
            spent_before: list[float] = []
            spent_after: list[float] = []
            guard.before = timed(before, spent_before, profiler)  # type: ignore[method-assign]
            guard.after = timed(after, spent_after, profiler)  # type: ignore[method-assign]
            spent_reserve: list[float] = []
            spent_settle: list[float] = []
            spent_bounding: list[float] = []
            if profiler is None:  # the ledger's part of it (reserve + settle), and reading the worst case
                guard.ledger.reserve = timed(reserve, spent_reserve, None)  # type: ignore[method-assign]
                guard.ledger.settle = timed(settle, spent_settle, None)  # type: ignore[method-assign]
                guard.rates.call_cost = timed(worst_case, spent_bounding, None)  # type: ignore[method-assign]
            for _ in range(args.calls):
                call()
            guard.before, guard.after = before, after  # type: ignore[method-assign]
            guard.ledger.reserve, guard.ledger.settle = reserve, settle  # type: ignore[method-assign]
            guard.rates.call_cost = worst_case  # type: ignore[method-assign]
            both = sorted(b + a for b, a in zip(spent_before, spent_after, strict=True))
            in_ledger = [r + s for r, s in zip(spent_reserve, spent_settle, strict=True)] or [0.0]
            print(
                f"{name:<28}{statistics.median(spent_before):>10.1f}{statistics.median(spent_after):>10.1f}"
                f"{statistics.median(both):>10.1f}{both[int(len(both) * 0.9)]:>10.1f}"
                f"{statistics.median(in_ledger):>11.1f}{statistics.median(spent_bounding or [0.0]):>15.1f}"
            )
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
        ai_usage_monitor.uninstrument()


if __name__ == "__main__":
    main()
