"""What the fast paths must keep: spans created when a call ends yet back-dated to its start and parented
where the call was made, no tracing work without a tracing SDK, a stream proxy that is still the SDK's
stream, and a client's base URL re-read when it changes. Real ``openai`` clients on the local fake."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import ai_usage_monitor.instrumentation as inst
from ai_usage_monitor.instrumentation.core import use_tracer_provider
from ai_usage_monitor.internal import internal_error_counts
from tests.conftest import Instrumented
from tests.instrumentation.openai_support import chat_messages, directive

USAGE = {"prompt_tokens": 300, "completion_tokens": 60}


@pytest.fixture
def client(fake: Any) -> Iterator[openai.OpenAI]:
    made = openai.OpenAI(api_key="test-key", base_url=fake.openai_base_url, max_retries=0)
    yield made
    made.close()


@pytest.fixture
def traced(instrumented: Instrumented) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    yield provider, exporter
    use_tracer_provider(None)
    provider.shutdown()


def _create(client: openai.OpenAI, **options: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=chat_messages(directive(**USAGE)), **options
    )


def test_span_covers_the_call_and_is_a_child_of_the_callers_span(
    instrumented: Instrumented, traced: tuple[TracerProvider, InMemorySpanExporter], client: openai.OpenAI
) -> None:
    provider, exporter = traced
    with provider.get_tracer("app").start_as_current_span("handler") as parent:
        _create(client)
    (span,) = [s for s in exporter.get_finished_spans() if s.name != "handler"]
    (record,) = instrumented.records()
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert record["trace_id"] == format(span.context.trace_id, "032x")
    assert record["span_id"] == format(span.context.span_id, "016x")
    assert span.start_time is not None and span.end_time is not None
    assert abs(span.start_time - record["timestamp"] * 1e9) < 2_000  # back-dated to the call's start
    assert (span.end_time - span.start_time) / 1e6 >= record["duration_ms"]
    assert span.attributes is not None and span.attributes["gen_ai.usage.input_tokens"] == 300


def test_a_stream_read_elsewhere_keeps_the_parent_it_was_created_under(
    instrumented: Instrumented, traced: tuple[TracerProvider, InMemorySpanExporter], client: openai.OpenAI
) -> None:
    provider, exporter = traced
    with provider.get_tracer("app").start_as_current_span("handler") as parent:
        stream = _create(client, stream=True)
    chunks = list(stream)  # read after the handler's span ended
    assert chunks and all(chunk.choices for chunk in chunks)
    (span,) = [s for s in exporter.get_finished_spans() if s.name != "handler"]
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    (record,) = instrumented.records()
    assert record["input_tokens"] == 300 and record["span_id"] == format(span.context.span_id, "016x")


def test_without_a_tracing_sdk_records_carry_no_trace_ids(
    instrumented: Instrumented, client: openai.OpenAI
) -> None:
    _create(client)
    (record,) = instrumented.records()
    assert record["trace_id"] is None and record["span_id"] is None and record["input_tokens"] == 300


def test_a_global_provider_set_after_instrument_gets_the_spans(fake: Any, tmp_path: Any) -> None:
    """The app configures tracing after ``instrument()`` (a fresh process: the global is set once)."""
    script = textwrap.dedent(
        f"""
        import json, openai
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import ai_usage_monitor

        ai_usage_monitor.instrument(records_dir={str(tmp_path)!r}, timezone="UTC")
        client = openai.OpenAI(api_key="k", base_url={fake.openai_base_url!r}, max_retries=0)
        messages = [{{"role": "user", "content": "hi"}}]
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        print(json.dumps([span.name for span in exporter.get_finished_spans()]))
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert done.stdout.strip() == '["chat gpt-4o-mini"]'
    lines = [line for path in tmp_path.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert len(lines) == 2
    assert '"trace_id":null' in lines[0] and '"trace_id":null' not in lines[1]


def test_the_stream_proxy_is_still_the_sdks_stream(instrumented: Instrumented, client: openai.OpenAI) -> None:
    stream = _create(client, stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    first = next(stream)
    rest = list(stream)  # iterating after next() goes on from where next() stopped
    assert first.choices and rest and first is not rest[0]
    with pytest.raises(StopIteration):
        next(stream)
    (record,) = instrumented.records()
    assert record["stream"] is True and record["input_tokens"] == 300


def test_a_changed_base_url_changes_the_provider(
    instrumented: Instrumented, client: openai.OpenAI, fake: Any
) -> None:
    _create(client)
    client.base_url = fake.compatible_base_url  # same client object, DashScope's compatible path
    client.chat.completions.create(model="qwen-plus", messages=chat_messages(directive(**USAGE)))
    first, second = instrumented.records()
    assert (first["provider"], second["provider"]) == ("openai", "dashscope")
    assert second["currency"] == "CNY" and second["priced"] is True


def test_instrumenting_again_replaces_the_tracer_in_use(
    instrumented: Instrumented, client: openai.OpenAI
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inst.instrument(records_dir=instrumented.records_dir, timezone="Asia/Shanghai", tracer_provider=provider)
    _create(client)
    inst.instrument(records_dir=instrumented.records_dir, timezone="Asia/Shanghai")
    _create(client)
    assert len(exporter.get_finished_spans()) == 1
    first, second = instrumented.records()
    assert first["trace_id"] is not None and second["trace_id"] is None


def test_a_stream_iterated_straight_from_create_records_its_usage(
    instrumented: Instrumented, client: openai.OpenAI
) -> None:
    read = 0
    for _chunk in _create(client, stream=True):  # the proxy itself is dropped as the loop starts
        read += 1
    assert read > 0
    (record,) = instrumented.records()
    assert (record["input_tokens"], record["output_tokens"], record["usage_missing"]) == (300, 60, False)
    for _chunk in _create(client, stream=True):  # left after the first chunk, the generator then dropped
        break
    second = instrumented.records()[1]
    assert second["usage_missing"] is True and second["success"] is True


class _BrokenProcessor(SimpleSpanProcessor):
    def on_end(self, span: Any) -> None:
        raise RuntimeError("exporter down")


def test_a_failing_tracing_pipeline_never_costs_the_record(
    instrumented: Instrumented, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ai_usage_monitor.internal._raise", False)  # as in production: counted, not raised
    provider = TracerProvider()
    provider.add_span_processor(_BrokenProcessor(InMemorySpanExporter()))
    use_tracer_provider(provider)
    try:
        completion = _create(client)
    finally:
        use_tracer_provider(None)
    assert completion.choices
    (record,) = instrumented.records()
    assert record["input_tokens"] == 300 and record["priced"] is True
    assert internal_error_counts().get("tracing a call", 0) >= 1
