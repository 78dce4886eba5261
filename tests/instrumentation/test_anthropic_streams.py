"""Streams through real ``anthropic`` clients (sync and async) on the local fake: ``create(stream=True)``
and the ``messages.stream()`` helper read every way the SDK offers, cut short, failing mid-stream or at
the HTTP status — one exact record each, after exactly one request, with the stream never consumed by the
monitor."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import pytest

from tests.conftest import Instrumented
from tests.instrumentation.anthropic_support import (
    HAIKU,
    USAGE,
    AnthropicClients,
    haiku_cost,
    message_params,
    only_span,
    read_helper,
    spans_in_memory,
)
from tests.instrumentation.openai_support import directive, drain, invoke, only_record

EVENTS = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
]


def assert_full_usage(instrumented: Instrumented, record: dict[str, Any]) -> None:
    assert (record["stream"], record["success"], record["usage_missing"]) == (True, True, False)
    assert (record["input_tokens"], record["output_tokens"]) == (3000, 50)
    assert (record["cached_tokens"], record["cache_write_tokens"]) == (2000, 400)
    assert (record["provider"], record["model"], record["priced"]) == ("anthropic", HAIKU, True)
    assert record["cost"] == pytest.approx(
        haiku_cost(instrumented.settings, 3000, 50, cached=2000, written=400), rel=1e-9
    )


async def test_create_stream_is_passed_through_and_recorded_once(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any
) -> None:
    client = anthropic_clients.client()
    stream = await invoke(client.messages.create(**message_params(directive(chunks=2, **USAGE), stream=True)))
    assert isinstance(stream, (anthropic.Stream, anthropic.AsyncStream))  # a proxy the SDK's checks accept
    assert instrumented.records() == []  # nothing read yet, nothing recorded
    events = await drain(stream)
    assert [event.type for event in events] == EVENTS
    assert len(fake.requests) == 1 and fake.requests[0].json["stream"] is True
    record = only_record(instrumented)
    assert_full_usage(instrumented, record)
    assert record["request_id"] == events[0].message.id


@pytest.mark.parametrize("how", ["final", "text", "events"])
async def test_stream_helper_read_to_the_end_is_one_record_not_also_one_through_create(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any, how: str
) -> None:
    client = anthropic_clients.client()
    manager = client.messages.stream(**message_params(directive(chunks=2, **USAGE)))
    assert fake.requests == []  # the helper sends its request when entered
    result = await read_helper(manager, how)
    if how == "final":
        assert result.usage.output_tokens == 50 and result.content[0].text
    elif how == "text":
        assert result == "This is a fake answer from the local provider."
    else:
        assert result[0].type == "message_start" and result[-1].type == "message_stop"
    assert len(fake.requests) == 1
    assert_full_usage(instrumented, only_record(instrumented))


async def test_stream_helper_left_early_records_what_the_stream_showed(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any
) -> None:
    client = anthropic_clients.client()
    first = await read_helper(client.messages.stream(**message_params(directive(chunks=5, **USAGE))), "first")
    assert first.type == "message_start"
    record = only_record(instrumented)
    # message_start told the whole input and the first output token; the rest was never read
    assert (record["input_tokens"], record["output_tokens"], record["cached_tokens"]) == (3000, 1, 2000)
    assert record["success"] is True and record["cost"] == pytest.approx(
        haiku_cost(instrumented.settings, 3000, 1, cached=2000, written=400), rel=1e-9
    )
    assert len(fake.requests) == 1


async def test_stream_helper_closed_unread_records_the_call_with_unknown_usage(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any
) -> None:
    client = anthropic_clients.client()
    await read_helper(client.messages.stream(**message_params(directive(**USAGE))), "close")
    record = only_record(instrumented)
    assert (record["success"], record["usage_missing"], record["input_tokens"]) == (True, True, None)
    assert len(fake.requests) == 1


async def test_create_stream_closed_after_one_event_records_what_it_showed(
    instrumented: Instrumented, anthropic_clients: AnthropicClients
) -> None:
    client = anthropic_clients.client()
    stream = await invoke(client.messages.create(**message_params(directive(**USAGE), stream=True)))
    assert len(await drain(stream, limit=1)) == 1
    assert instrumented.records() == []
    await invoke(stream.close())
    record = only_record(instrumented)
    assert (record["input_tokens"], record["output_tokens"]) == (3000, 1)


def test_create_stream_dropped_after_one_event_is_recorded_when_collected(
    instrumented: Instrumented, fake: Any
) -> None:
    with anthropic.Anthropic(api_key="k", base_url=fake.anthropic_base_url, max_retries=0) as client:
        stream = client.messages.create(**message_params(directive(**USAGE), stream=True))
        assert next(iter(stream)).type == "message_start"
        del stream
        gc.collect()
    record = only_record(instrumented)
    assert (record["input_tokens"], record["output_tokens"], record["success"]) == (3000, 1, True)


@pytest.mark.parametrize("helper", [False, True])
async def test_error_mid_stream_is_raised_and_recorded_with_anthropics_error_type(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any, helper: bool
) -> None:
    client = anthropic_clients.client()
    params = message_params(directive(stream_error_after=1, **USAGE))
    with pytest.raises(anthropic.APIStatusError) as caught:
        if helper:
            await read_helper(client.messages.stream(**params), "final")
        else:
            await drain(await invoke(client.messages.create(**params, stream=True)))
    assert type(caught.value) is anthropic.APIStatusError and "overloaded_error" in str(caught.value)
    record = only_record(instrumented)
    assert (record["success"], record["error_type"]) == (False, "overloaded_error")
    assert record["error_msg"] == str(caught.value)
    assert (record["input_tokens"], record["output_tokens"]) == (3000, 1)  # what message_start told
    assert len(fake.requests) == 1


async def test_http_error_when_the_helper_is_entered_is_raised_unchanged_and_recorded(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any
) -> None:
    client = anthropic_clients.client()
    with pytest.raises(anthropic.RateLimitError) as caught:
        await read_helper(client.messages.stream(**message_params(directive(error=429))), "final")
    record = only_record(instrumented)
    assert (record["success"], record["error_type"], record["stream"]) == (False, "RateLimitError", True)
    assert record["error_msg"] == str(caught.value)
    assert len(fake.requests) == 1


# the async SDK makes its request coroutine in ``stream()``: never entered, it is never awaited
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_a_helper_never_entered_sends_nothing_and_records_nothing(
    instrumented: Instrumented, anthropic_clients: AnthropicClients, fake: Any
) -> None:
    client = anthropic_clients.client()
    manager = client.messages.stream(**message_params(directive(**USAGE)))
    del manager
    gc.collect()
    assert fake.requests == [] and instrumented.records() == []


async def test_stream_span_carries_provider_cache_counts_and_finish_reason(
    instrumented: Instrumented, anthropic_clients: AnthropicClients
) -> None:
    client = anthropic_clients.client()
    with spans_in_memory() as exporter:
        await read_helper(client.messages.stream(**message_params(directive(**USAGE))), "final")
    attributes = dict(only_span(exporter).attributes or {})
    record = only_record(instrumented)
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 3000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 2000
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 400
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert record["span_id"] == format(only_span(exporter).context.span_id, "016x")
