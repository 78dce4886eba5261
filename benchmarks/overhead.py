"""Added latency per instrumented call, and record_ai_usage throughput (DESIGN §13).

The same OpenAI chat call (and a DashScope Generation call) against the project's local fake provider,
bare vs instrumented by ai-usage-monitor vs instrumented by the official OpenTelemetry OpenAI
instrumentation, arms interleaved round by round in one process. Each timed call follows an untimed one
made after switching arms; the figure per arm is the median over rounds of (arm − bare in that round),
and a second bare arm ("A/A") prints the noise floor.

    python benchmarks/overhead.py [--rounds 400] [--records 100000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dashscope
import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import ai_usage_monitor
from ai_usage_monitor.instrumentation.core import use_tracer_provider
from ai_usage_monitor.testing.fake_provider import FakeProvider

MESSAGES = [{"role": "user", "content": "分析这段直播间弹幕的情绪"}]


@dataclass
class Arm:
    """One way of making the call: how to switch to it, and its per-round timings (µs)."""

    name: str
    enter: Callable[[], None]
    leave: Callable[[], None]
    samples: list[float] = field(default_factory=list)


def _official_instrumentor() -> Any:
    try:
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
    except ImportError:
        return None
    return OpenAIInstrumentor()


def _sdk_providers() -> tuple[TracerProvider, MeterProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return tracer_provider, meter_provider, exporter


def build_arms(records_dir: Path, with_official: bool) -> list[Arm]:
    tracer_provider, meter_provider, exporter = _sdk_providers()
    official = _official_instrumentor() if with_official else None

    def nothing() -> None:
        exporter.clear()

    def ours() -> None:
        ai_usage_monitor.instrument(records_dir=records_dir, timezone="Asia/Shanghai")
        use_tracer_provider(None)

    def ours_traced() -> None:
        ai_usage_monitor.instrument(records_dir=records_dir, timezone="Asia/Shanghai")
        use_tracer_provider(tracer_provider)

    def official_on() -> None:
        official.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def official_off() -> None:
        official.uninstrument()
        exporter.clear()

    arms = [
        Arm("bare", nothing, nothing),
        Arm("bare (A/A)", nothing, nothing),
        Arm("ai-usage-monitor", ours, ai_usage_monitor.uninstrument),
        Arm("ai-usage-monitor + SDK tracing", ours_traced, ai_usage_monitor.uninstrument),
    ]
    if official is not None:
        arms.append(Arm("official OTel openai (SDK tracing+metrics)", official_on, official_off))
    return arms


def run(arms: list[Arm], call: Callable[[], None], rounds: int) -> None:
    for _ in range(rounds):
        order = arms[:]
        random.shuffle(order)
        for arm in order:
            arm.enter()
            call()  # untimed: the first call after a switch pays for it
            start = time.perf_counter_ns()
            call()
            arm.samples.append((time.perf_counter_ns() - start) / 1000.0)
            arm.leave()


def report(title: str, arms: list[Arm]) -> dict[str, float]:
    bare = arms[0].samples
    print(f"\n{title}")
    print(f"{'arm':48} {'median µs':>10} {'added µs (median of pair diffs)':>32}")
    added: dict[str, float] = {}
    for arm in arms:
        diffs = [s - b for s, b in zip(arm.samples, bare, strict=True)]
        added[arm.name] = statistics.median(diffs)
        print(f"{arm.name:48} {statistics.median(arm.samples):10.1f} {added[arm.name]:32.1f}")
    official = next((v for k, v in added.items() if k.startswith("official")), None)
    if official:
        for name in ("ai-usage-monitor", "ai-usage-monitor + SDK tracing"):
            print(f"  {name} adds {added[name] / official:.2f}× what the official instrumentation adds")
    return added


def bench_record_ai_usage(records_dir: Path, count: int) -> float:
    ai_usage_monitor.instrument(records_dir=records_dir, timezone="Asia/Shanghai")
    start = time.perf_counter()
    for i in range(count):
        ai_usage_monitor.record_ai_usage(
            model="qwen-plus",
            function="实时分析",
            input_tokens=2000 + i % 7,
            output_tokens=700,
            anchor_id="a1",
        )
    rate = count / (time.perf_counter() - start)
    ai_usage_monitor.uninstrument()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as fake:
        records_dir = Path(tmp) / "records"
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="bench", max_retries=0)
        dashscope.base_http_api_url = fake.dashscope_base_url
        dashscope.api_key = "bench"

        def chat() -> None:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

        def chat_stream() -> None:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
            for _ in stream:
                pass

        def generation() -> None:
            dashscope.Generation.call(model="qwen-plus", messages=MESSAGES, result_format="message")

        print(f"{args.rounds} rounds per scenario; arms interleaved in random order each round")
        report("OpenAI chat, non-stream", _run(records_dir, chat, args.rounds, official=True))
        report(
            "OpenAI chat, stream (include_usage)", _run(records_dir, chat_stream, args.rounds, official=True)
        )
        report("DashScope Generation.call", _run(records_dir, generation, args.rounds, official=False))
        rate = bench_record_ai_usage(Path(tmp) / "manual", args.records)
        print(f"\nrecord_ai_usage: {rate:,.0f} records/s from one thread ({args.records:,} records)")


def _run(records_dir: Path, call: Callable[[], None], rounds: int, *, official: bool) -> list[Arm]:
    arms = build_arms(records_dir, with_official=official)
    run(arms, call, rounds)
    return arms


if __name__ == "__main__":
    main()
