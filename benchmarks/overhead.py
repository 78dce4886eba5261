"""Added latency per instrumented call, and record_ai_usage throughput (docs/architecture.md §13).

The same OpenAI chat call (non-stream and stream) and a DashScope Generation call against the project's
local fake provider (its own process, as a real provider would be), bare vs instrumented by
ai-usage-monitor (without and with an SDK TracerProvider) vs the official OpenTelemetry OpenAI
instrumentation; a reference arm makes only one SDK span with the attributes ours carries (the floor
under "ours + SDK tracing"). Arms are interleaved one call at a time in a fresh random order each round; every
timed call follows an untimed one made right after switching arms. The figure per arm is the median
over rounds of (arm − bare in the same round), wall clock and the calling thread's CPU time, with a
95% interval of that median; a second bare arm ("A/A") shows the noise floor. The garbage collector
is off during a round and runs between rounds, after a warm-up phase that is not counted.

    python benchmarks/overhead.py [--rounds 1000] [--warmup 50] [--records 100000] [--guard [--redis]]

``--guard`` adds arms with one ``block`` budget matching every call (a limit never reached): the records
folder's ledger (the mapped counters file), and with slices (``budget_slice``); ``--redis`` also the same
over a throw-away ``redis-server`` (docs/budgets.md). ``guard_path.py`` times the guard alone in place.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dashscope
import openai
import wrapt
from openai.resources.chat import completions as chat_completions
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import ai_usage_monitor
from ai_usage_monitor.budgets.guard import BudgetGuard
from ai_usage_monitor.config import Settings
from ai_usage_monitor.instrumentation.core import use_tracer_provider
from ai_usage_monitor.instrumentation.dashscope import DashScopeUsageInstrumentor
from ai_usage_monitor.instrumentation.openai import OpenAIUsageInstrumentor
from ai_usage_monitor.recorder import get_recorder

#: typed ``Any``: the OpenAI and DashScope SDKs each annotate messages with their own types
MESSAGES: Any = [{"role": "user", "content": "分析这段直播间弹幕的情绪"}]
OURS = "ai-usage-monitor"
OURS_TRACED = "ai-usage-monitor + SDK tracing"
OFFICIAL = "official OTel openai (SDK tracing+metrics)"
SPAN_ONLY = "reference: one SDK span, nothing else"
#: the attributes ai-usage-monitor's span carries for the benchmark's chat call
SPAN_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.stream": False,
    "server.address": "127.0.0.1",
    "server.port": 8000,
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "chatcmpl-fake-000001",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": 13,
    "gen_ai.usage.output_tokens": 40,
    "gen_ai.usage.cache_read.input_tokens": 0,
    "gen_ai.usage.reasoning.output_tokens": 0,
    "ai_usage.cost": 0.0001,
    "ai_usage.currency": "CNY",
}


@dataclass
class Arm:
    """One way of making the call: how to switch to it, and its per-round timings (µs)."""

    name: str
    enter: Callable[[], None]
    leave: Callable[[], None]
    records: bool = False  # whether its calls write usage records
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


@dataclass
class Added:
    """What an arm adds to the bare call: medians of per-round differences (µs)."""

    wall: float
    wall_low: float
    wall_high: float
    cpu: float


@contextmanager
def redis_server(workdir: Path, wanted: bool) -> Iterator[str | None]:
    """A throw-away ``redis-server``'s URL when ``wanted``, else ``None``."""
    if not wanted:
        yield None
        return
    from ai_usage_monitor.testing.redis_server import RedisServer

    with RedisServer(workdir / "redis") as server:
        yield server.url


@contextmanager
def fake_provider_process() -> Iterator[dict[str, str]]:
    """The fake provider in a child process; yields its base URLs by name (``OpenAI``, ``DashScope``)."""
    command = [sys.executable, "-m", "ai_usage_monitor.testing.fake_provider", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        urls = {}
        for _ in range(3):
            name, url = process.stdout.readline().split(":", 1)
            urls[name.strip()] = url.strip()
        yield urls
    finally:
        process.terminate()
        process.wait(timeout=10)


def _official_instrumentor() -> Any:
    try:
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
    except ImportError:
        return None
    return OpenAIInstrumentor()


def _span_only_arm(tracer_provider: TracerProvider, exporter: InMemorySpanExporter) -> Arm:
    """Chat completions wrapped to make one SDK span, back-dated to the call's start, and nothing else."""
    tracer = tracer_provider.get_tracer("benchmark")
    original = vars(chat_completions.Completions)["create"]

    def span_only(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        start = time.time_ns()
        result = wrapped(*args, **kwargs)
        span = tracer.start_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=dict(SPAN_ATTRIBUTES), start_time=start
        )
        span.end()
        return result

    def enter() -> None:
        wrapt.wrap_function_wrapper(chat_completions.Completions, "create", span_only)

    def leave() -> None:
        chat_completions.Completions.create = original  # type: ignore[method-assign]
        exporter.clear()

    return Arm(SPAN_ONLY, enter, leave)


def guards(records_dir: Path, redis_url: str | None) -> dict[str, BudgetGuard]:
    """One guard per ledger to measure, each with one ``block`` budget that every call matches."""
    stores: dict[str, tuple[str | None, float, str]] = {
        "1 local budget": (None, 0.0, "block"),
        "1 local budget, slices": (None, 0.02, "block"),
        "1 local notify budget, slices": (None, 0.02, "notify"),
    }
    if redis_url:
        stores |= {
            "1 Redis budget": (redis_url, 0.0, "block"),
            "1 Redis budget, slices": (redis_url, 0.02, "block"),
        }
    made = {}
    for number, (name, (store, slice_fraction, action)) in enumerate(stores.items()):
        settings = Settings(
            records_dir=records_dir,
            timezone="Asia/Shanghai",
            budgets=[{"name": f"bench-{number}", "limit": 1e9, "action": action}],
            budget_store=store,
            budget_slice=slice_fraction,
        )
        made[f"{OURS} + {name}"] = BudgetGuard(settings, get_recorder().pricer)
    return made


def build_arms(with_official: bool, guarded: dict[str, BudgetGuard] | None = None) -> list[Arm]:
    """Arms switch only what they measure: our patches (the recorder is built once) or the official ones.

    The official instrumentation and the span-only reference wrap OpenAI chat completions only.
    """
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    official = _official_instrumentor() if with_official else None
    ours = (OpenAIUsageInstrumentor(), DashScopeUsageInstrumentor())

    def nothing() -> None:
        exporter.clear()

    def patch(provider: TracerProvider | None) -> Callable[[], None]:
        def enter() -> None:
            use_tracer_provider(provider)
            for instrumentor in ours:
                instrumentor.instrument()

        return enter

    def unpatch() -> None:
        get_recorder().guard = None
        for instrumentor in ours:
            instrumentor.uninstrument()
        exporter.clear()

    def with_guard(guard: BudgetGuard) -> Callable[[], None]:
        def enter() -> None:
            patch(None)()
            get_recorder().guard = guard

        return enter

    def official_on() -> None:
        assert official is not None
        official.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def official_off() -> None:
        assert official is not None
        official.uninstrument()
        exporter.clear()

    arms = [
        Arm("bare", nothing, nothing),
        Arm("bare (A/A)", nothing, nothing),
        Arm(OURS, patch(None), unpatch, records=True),
        Arm(OURS_TRACED, patch(tracer_provider), unpatch, records=True),
    ]
    arms += [Arm(name, with_guard(guard), unpatch, records=True) for name, guard in (guarded or {}).items()]
    if with_official:
        arms.append(_span_only_arm(tracer_provider, exporter))
    if official is not None:
        arms.append(Arm(OFFICIAL, official_on, official_off))
    return arms


def run(arms: list[Arm], call: Callable[[], None], rounds: int, warmup: int) -> None:
    """``warmup`` uncounted rounds, then ``rounds`` counted ones; the GC runs only between rounds."""
    gc.collect()
    gc.freeze()  # what exists now (modules, SDK state) is never scanned again: collections stay short
    try:
        for number in range(warmup + rounds):
            order = arms[:]
            random.shuffle(order)
            gc.disable()
            for arm in order:
                arm.enter()
                call()  # untimed: the first call after a switch pays for it
                cpu = time.thread_time_ns()
                start = time.perf_counter_ns()
                call()
                wall = time.perf_counter_ns() - start
                cpu = time.thread_time_ns() - cpu
                arm.leave()
                if number >= warmup:
                    arm.wall.append(wall / 1000.0)
                    arm.cpu.append(cpu / 1000.0)
            gc.enable()
            gc.collect()
    finally:
        gc.enable()
        gc.unfreeze()


def median_interval(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95% confidence interval of the median (order statistics)."""
    ordered = sorted(values)
    n = len(ordered)
    k = max(0, math.floor(n / 2 - 0.98 * math.sqrt(n)))
    return ordered[k], ordered[min(n - 1, n - 1 - k)]


def added(arm: Arm, bare: Arm) -> Added:
    wall = [s - b for s, b in zip(arm.wall, bare.wall, strict=True)]
    cpu = [s - b for s, b in zip(arm.cpu, bare.cpu, strict=True)]
    low, high = median_interval(wall)
    return Added(statistics.median(wall), low, high, statistics.median(cpu))


def report(title: str, arms: list[Arm]) -> dict[str, Added]:
    bare = arms[0]
    print(f"\n{title}")
    print(f"{'arm':44} {'median µs':>10} {'added µs':>9} {'95% interval':>16} {'added CPU µs':>13}")
    results: dict[str, Added] = {}
    for arm in arms:
        result = results[arm.name] = added(arm, bare)
        interval = f"[{result.wall_low:.0f}, {result.wall_high:.0f}]"
        print(
            f"{arm.name:44} {statistics.median(arm.wall):10.1f} {result.wall:9.1f} {interval:>16} "
            f"{result.cpu:13.1f}"
        )
    ours = next((arm for arm in arms if arm.name == OURS), None)
    guarded = [arm for arm in arms if arm.name.startswith(f"{OURS} + ") and arm.name != OURS_TRACED]
    if ours is not None and guarded:  # the guard's own figure: against the arm without budgets, per round
        heading = "budget arm, over ai-usage-monitor in the same round"
        print(f"  {heading:58} {'added µs':>9} {'95% interval':>16}")
        for arm in guarded:
            over = added(arm, ours)
            interval = f"[{over.wall_low:.0f}, {over.wall_high:.0f}]"
            print(f"  {arm.name[len(OURS) + 3 :]:58} {over.wall:9.1f} {interval:>16}  CPU {over.cpu:.1f}")
    official = results.get(OFFICIAL)
    if official is not None and official.wall > 0 and official.cpu > 0:
        for name in (OURS, OURS_TRACED):
            wall, cpu = results[name].wall / official.wall, results[name].cpu / official.cpu
            print(f"  {name} adds {wall:.2f}× what the official instrumentation adds (wall; CPU {cpu:.2f}×)")
    return results


def count_records(records_dir: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in records_dir.glob("*.jsonl"))


def wait_for_pricing_warm_up() -> None:
    for thread in threading.enumerate():
        if thread.name == "ai-usage-pricing-warm-up":
            thread.join()


def bench_record_ai_usage(records_dir: Path, count: int, repeats: int = 3) -> float:
    """Median records/s over ``repeats`` runs of ``count`` calls from one thread."""
    ai_usage_monitor.instrument(records_dir=records_dir, timezone="Asia/Shanghai")
    wait_for_pricing_warm_up()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            ai_usage_monitor.record_ai_usage(
                model="qwen-plus",
                function="实时分析",
                input_tokens=2000 + i % 7,
                output_tokens=700,
                anchor_id="a1",
            )
        rates.append(count / (time.perf_counter() - start))
    ai_usage_monitor.uninstrument()
    written = count_records(records_dir)
    if written != count * repeats:
        raise SystemExit(f"record_ai_usage: {written} records written, expected {count * repeats}")
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--only", choices=("chat", "stream", "dashscope", "records"), action="append")
    parser.add_argument("--guard", action="store_true", help="add budget-guard arms (local ledger)")
    parser.add_argument("--redis", action="store_true", help="with --guard: also over a local redis-server")
    args = parser.parse_args()
    only = set(args.only or ("chat", "stream", "dashscope", "records"))
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_provider_process() as urls,
        redis_server(Path(tmp), args.guard and args.redis) as redis_url,
    ):
        records_dir = Path(tmp) / "records"
        client = openai.OpenAI(base_url=urls["OpenAI"], api_key="bench", max_retries=0)
        dashscope.base_http_api_url = urls["DashScope"]
        dashscope.api_key = "bench"
        # the recorder (settings, pricer, exporter) is built once; arms switch only the patches; the fake's
        # host counts as OpenAI, so the calls are priced as OpenAI's would be
        ai_usage_monitor.instrument(
            records_dir=records_dir, timezone="Asia/Shanghai", provider_hosts={"127.0.0.1": "openai"}
        )
        wait_for_pricing_warm_up()
        ai_usage_monitor.uninstrument()
        guarded = guards(records_dir, redis_url) if args.guard else {}

        def chat() -> None:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        def chat_stream() -> None:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            for _ in stream:
                pass

        def generation() -> None:
            dashscope.Generation.call(model="qwen-plus", messages=MESSAGES, result_format="message")

        scenarios = [
            ("chat", "OpenAI chat, non-stream", chat, True),
            ("stream", "OpenAI chat, stream (include_usage)", chat_stream, True),
            ("dashscope", "DashScope Generation.call", generation, False),
        ]
        print(f"{args.rounds} rounds per scenario (+{args.warmup} warm-up), arms in a new order each round")
        expected = 0
        for key, title, call, official in scenarios:
            if key not in only:
                continue
            arms = build_arms(with_official=official, guarded=guarded)
            run(arms, call, args.rounds, args.warmup)
            report(title, arms)
            expected += 2 * (args.rounds + args.warmup) * sum(arm.records for arm in arms)
        for guard in guarded.values():  # slices are returned while the Redis server still runs
            guard.close()
        written = count_records(records_dir)
        if written != expected:
            raise SystemExit(f"{written} usage records written, expected {expected}: a record went missing")
        if "records" in only:
            rate = bench_record_ai_usage(Path(tmp) / "manual", args.records)
            print(
                f"\nrecord_ai_usage: {rate:,.0f} records/s from one thread (median of 3 × {args.records:,})"
            )


if __name__ == "__main__":
    main()
