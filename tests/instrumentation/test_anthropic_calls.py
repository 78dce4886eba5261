"""``messages.create`` through real ``anthropic`` clients (sync and async) on the local fake: one exact,
priced record per call with cache reads and writes, its span, HTTP errors raised unchanged, the SDK
called once, and the monitor's own failures kept from the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

import ai_usage_monitor.instrumentation as inst
from ai_usage_monitor.context import usage_context
from ai_usage_monitor.instrumentation.anthropic import extractors
from tests.conftest import Instrumented
from tests.instrumentation.anthropic_support import (
    HAIKU,
    USAGE,
    AnthropicClients,
    haiku_cost,
    message_params,
    only_span,
    spans_in_memory,
)
from tests.instrumentation.dashscope_support import reset_monitor
from tests.instrumentation.openai_support import directive, invoke, only_record
from tests.support.records import read_records


async def test_a_message_is_one_exact_priced_record_with_cache_reads_and_writes(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any
) -> None:
    client = anthropic_clients.client()
    with usage_context(user_id="u7", function="实时分析"):
        message = await invoke(client.messages.create(**message_params(directive(**USAGE))))
    assert isinstance(message, anthropic.types.Message)  # the caller's object, untouched
    assert message.usage.input_tokens == 600 and message.usage.cache_read_input_tokens == 2000
    assert len(fake.requests) == 1 and fake.requests[0].path == "/v1/messages"
    record = only_record(instrumented)
    assert (record["provider"], record["source"], record["operation"]) == ("anthropic", "anthropic", "chat")
    assert (record["model"], record["user_id"], record["function"]) == (HAIKU, "u7", "实时分析")
    assert (record["input_tokens"], record["output_tokens"], record["total_tokens"]) == (3000, 50, 3050)
    assert (record["cached_tokens"], record["cache_write_tokens"]) == (2000, 400)
    assert record["request_id"] == message.id and record["stream"] is False and record["success"] is True
    assert (record["currency"], record["priced"]) == ("CNY", True)
    assert record["cost"] == pytest.approx(
        haiku_cost(instrumented.settings, 3000, 50, cached=2000, written=400), rel=1e-9
    )


async def test_the_span_names_the_provider_and_carries_the_cache_counts(
    instrumented: Instrumented, anthropic_clients: AnthropicClients
) -> None:
    client = anthropic_clients.client()
    with spans_in_memory() as exporter:
        message = await invoke(client.messages.create(**message_params(directive(**USAGE))))
    span = only_span(exporter)
    record = only_record(instrumented)
    assert span.name == f"chat {HAIKU}"
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": HAIKU,
        "gen_ai.request.stream": False,
        "server.address": "127.0.0.1",
        "server.port": anthropic_clients.fake.port,
        "gen_ai.response.model": HAIKU,
        "gen_ai.response.id": message.id,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 3000,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 2000,
        "gen_ai.usage.cache_creation.input_tokens": 400,
        "ai_usage.cost": record["cost"],
        "ai_usage.currency": "CNY",
    }


async def test_thinking_tokens_are_the_records_reasoning_tokens(
    instrumented: Instrumented, anthropic_clients: AnthropicClients
) -> None:
    client = anthropic_clients.client()
    thinking = {"type": "enabled", "budget_tokens": 1024}
    text = directive(prompt_tokens=500, completion_tokens=300, reasoning_tokens=200)
    await invoke(client.messages.create(**message_params(text, thinking=thinking)))
    record = only_record(instrumented)
    assert (record["input_tokens"], record["output_tokens"], record["reasoning_tokens"]) == (500, 300, 200)
    # Anthropic bills thinking as output: the same price
    assert record["cost"] == pytest.approx(haiku_cost(instrumented.settings, 500, 300), rel=1e-9)


@pytest.mark.parametrize(
    ("status", "cls"), [(429, anthropic.RateLimitError), (529, anthropic.OverloadedError)]
)
async def test_http_error_raises_the_same_class_and_records_one_failure(
    instrumented: Instrumented,
    anthropic_clients: AnthropicClients,
    fake: Any,
    status: int,
    cls: type[anthropic.APIStatusError],
) -> None:
    client = anthropic_clients.client()

    async def raised() -> BaseException:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await invoke(client.messages.create(**message_params(directive(error=status))))
        return caught.value

    with_monitor = await raised()
    assert len(fake.requests) == 1
    records = instrumented.records()
    inst.uninstrument()
    without_monitor = await raised()
    assert type(with_monitor) is type(without_monitor) is cls
    (record,) = records
    assert (record["success"], record["error_type"], record["provider"]) == (False, cls.__name__, "anthropic")
    assert record["error_msg"] == str(with_monitor) and record["input_tokens"] is None
    assert record["cost"] == 0 and record["priced"] is False


async def test_a_failing_reader_leaves_the_call_intact_and_still_records_it(
    anthropic_clients: AnthropicClients, fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_USAGE_RAISE_INTERNAL_ERRORS", "0")

    def broken(message: Any) -> Any:
        raise RuntimeError("reader bug")

    monkeypatch.setattr(extractors, "message_usage", broken)
    inst.instrument(providers=["anthropic"], records_dir=tmp_path, raise_internal_errors=False)
    try:
        client = anthropic_clients.client()
        message = await invoke(client.messages.create(**message_params(directive(**USAGE))))
    finally:
        reset_monitor()
    assert isinstance(message, anthropic.types.Message) and len(fake.requests) == 1
    (record,) = read_records(tmp_path)
    assert record["success"] is True and record["usage_missing"] is True


def test_instrument_patches_anthropic_and_uninstrument_restores_it(instrumented: Instrumented) -> None:
    from anthropic.resources.messages.messages import AsyncMessages, Messages

    assert "anthropic" in inst.instrumented_providers()
    assert type(vars(Messages)["create"]).__name__ == "FunctionWrapper"
    inst.uninstrument()
    assert "anthropic" not in inst.instrumented_providers()
    for owner in (Messages, AsyncMessages):
        for name in ("create", "parse", "stream"):
            assert type(vars(owner)[name]).__name__ == "function"
