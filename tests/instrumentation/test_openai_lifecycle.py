"""Patching lifecycle, spans and raw responses of the OpenAI instrumentation, with real clients on the fake:
``uninstrument()`` restores the SDK's own methods, ``instrument()`` twice records once, spans carry the
attributes of docs/architecture.md §8, and ``with_raw_response`` / ``with_streaming_response`` calls
neither crash nor lose their record."""

from __future__ import annotations

import importlib
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import ai_usage_monitor.instrumentation as inst
from ai_usage_monitor.context import usage_context
from ai_usage_monitor.instrumentation.openai import OpenAIUsageInstrumentor
from tests.conftest import Instrumented
from tests.instrumentation.openai_support import (
    Clients,
    chat,
    chat_messages,
    directive,
    drain,
    invoke,
)

USAGE = {"prompt_tokens": 300, "completion_tokens": 60, "cached_tokens": 30, "reasoning_tokens": 10}


#: what SDK 3.x defines and must be patched (older SDKs lack some; the table also lists 1.x's beta parse)
PATCHED_IN_SDK_3 = {
    f"{module}:{cls}.{method}"
    for module, classes, methods in (
        ("openai.resources.chat.completions", ("Completions", "AsyncCompletions"), ("create", "parse")),
        ("openai.resources.embeddings", ("Embeddings", "AsyncEmbeddings"), ("create",)),
        ("openai.resources.responses.responses", ("Responses", "AsyncResponses"), ("create", "parse")),
    )
    for cls in classes
    for method in methods
}


def _owner_and_name(module: str, qualname: str) -> tuple[Any, str] | None:
    try:
        owner: Any = importlib.import_module(module)
    except ImportError:
        return None
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


def test_every_target_is_patched_and_uninstrument_restores_the_originals(instrumented: Instrumented) -> None:
    targets = OpenAIUsageInstrumentor.targets
    assert {f"{t.module}:{t.qualname}" for t in targets} >= PATCHED_IN_SDK_3
    originals = []
    for target in targets:
        found = _owner_and_name(target.module, target.qualname)
        if found is None:
            assert f"{target.module}:{target.qualname}" not in PATCHED_IN_SDK_3
            continue
        owner, name = found
        patched = vars(owner)[name]
        original = patched.__wrapped__  # the wrapt wrapper keeps the SDK's function
        assert patched is not original
        originals.append((owner, name, original))
    assert len(originals) == len(PATCHED_IN_SDK_3)
    from openai.resources.chat.completions import Completions

    create_before = Completions.__dict__["create"].__wrapped__
    inst.uninstrument()
    assert Completions.__dict__["create"] is create_before
    for owner, name, original in originals:
        assert vars(owner)[name] is original, f"{owner.__name__}.{name} not restored"
    assert "openai" not in inst.instrumented_providers()


async def test_no_record_after_uninstrument(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    inst.uninstrument()
    client = clients.openai()
    await chat(client, "gpt-4o-mini", "hi")
    assert instrumented.records() == [] and len(fake.requests) == 1


async def test_instrument_twice_records_once(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    inst.instrument(records_dir=instrumented.records_dir, timezone="Asia/Shanghai")
    inst.instrument(records_dir=instrumented.records_dir, timezone="Asia/Shanghai")
    client = clients.openai()
    await chat(client, "gpt-4o-mini", "hi")
    stream = await chat(client, "gpt-4o-mini", "hi", stream=True)
    await drain(stream)
    assert len(instrumented.records()) == 2 and len(fake.requests) == 2
    assert fake.requests[1].json["stream_options"] == {"include_usage": True}


@pytest.fixture
def spans(instrumented: Instrumented) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inst.instrument(records_dir=instrumented.records_dir, timezone="Asia/Shanghai", tracer_provider=provider)
    return exporter


async def test_span_attributes_of_a_successful_call(
    instrumented: Instrumented, clients: Clients, spans: InMemorySpanExporter, fake: Any
) -> None:
    client = clients.compatible()
    with usage_context(user_id="u7", anchor_id="a7", session_id="s7", function="话术生成"):
        await chat(client, "qwen-plus", directive(**USAGE))
    (span,) = spans.get_finished_spans()
    (record,) = instrumented.records()
    assert span.name == "chat qwen-plus" and span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert "gen_ai.system" not in attributes
    assert {
        key: attributes.get(key)
        for key in (
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.request.stream",
            "server.address",
            "server.port",
            "ai_usage.currency",
            "ai_usage.function",
            "ai_usage.user_id",
            "ai_usage.anchor_id",
            "ai_usage.session_id",
        )
    } == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "dashscope",
        "gen_ai.request.model": "qwen-plus",
        "gen_ai.response.model": "qwen-plus",
        "gen_ai.usage.input_tokens": 300,
        "gen_ai.usage.output_tokens": 60,
        "gen_ai.usage.cache_read.input_tokens": 30,
        "gen_ai.usage.reasoning.output_tokens": 10,
        "gen_ai.request.stream": False,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "ai_usage.currency": "CNY",
        "ai_usage.function": "话术生成",
        "ai_usage.user_id": "u7",
        "ai_usage.anchor_id": "a7",
        "ai_usage.session_id": "s7",
    }
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    assert attributes["ai_usage.cost"] == pytest.approx(record["cost"]) and record["cost"] > 0
    assert record["trace_id"] == format(span.context.trace_id, "032x")
    assert "error.type" not in attributes


async def test_span_of_a_stream_ends_with_its_usage(
    instrumented: Instrumented, clients: Clients, spans: InMemorySpanExporter
) -> None:
    client = clients.openai()
    stream = await chat(client, "gpt-4o-mini", directive(**USAGE), stream=True)
    assert spans.get_finished_spans() == ()
    await drain(stream)
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == 300
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"


async def test_span_of_a_failed_call(
    instrumented: Instrumented, clients: Clients, spans: InMemorySpanExporter
) -> None:
    client = clients.openai()
    with pytest.raises(openai.RateLimitError):
        await chat(client, "gpt-4o-mini", directive(error=429))
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "RateLimitError"
    assert span.status.status_code is StatusCode.ERROR
    assert "gen_ai.system" not in attributes and "gen_ai.usage.input_tokens" not in attributes


async def test_with_raw_response_non_stream_is_recorded_with_its_usage(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.openai()
    raw = await invoke(
        client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=chat_messages(directive(**USAGE))
        )
    )
    completion = raw.parse()
    assert completion.usage.prompt_tokens == 300
    (record,) = instrumented.records()
    assert (record["input_tokens"], record["output_tokens"], record["cached_tokens"]) == (300, 60, 30)
    assert (record["model"], record["response_model"]) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert record["request_id"] == completion.id
    assert record["success"] is True and len(fake.requests) == 1


async def test_with_raw_response_stream_is_left_alone(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.openai()
    raw = await invoke(
        client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=chat_messages(directive(**USAGE)), stream=True
        )
    )
    chunks = await drain(await invoke(raw.parse()))
    assert chunks and all(chunk.choices for chunk in chunks)
    assert "stream_options" not in fake.requests[0].json  # a raw stream cannot have a chunk hidden from it
    (record,) = instrumented.records()
    assert record["success"] is True and record["usage_missing"] is True and record["stream"] is True


async def test_with_streaming_response_does_not_crash(instrumented: Instrumented, clients: Clients) -> None:
    client = clients.openai()
    manager = client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=chat_messages(directive(**USAGE))
    )
    if clients.is_async:
        async with manager as response:
            completion = await response.parse()
    else:
        with manager as response:
            completion = response.parse()
    assert completion.usage.prompt_tokens == 300
    (record,) = instrumented.records()
    assert record["success"] is True and record["usage_missing"] is True


async def test_azure_client_gets_no_stream_options(
    instrumented: Instrumented, flavour: str, fake: Any
) -> None:
    cls = openai.AsyncAzureOpenAI if flavour == "async" else openai.AzureOpenAI
    client = cls(api_key="k", api_version="2024-10-21", base_url=fake.openai_base_url, max_retries=0)
    try:
        with pytest.raises(openai.NotFoundError):  # the fake serves no Azure deployment routes
            await chat(client, "gpt-4o-mini", "hi", stream=True)
    finally:
        await invoke(client.close())
    assert "stream_options" not in fake.requests[0].json
    (record,) = instrumented.records()
    assert (record["provider"], record["error_type"]) == ("azure.ai.openai", "NotFoundError")
