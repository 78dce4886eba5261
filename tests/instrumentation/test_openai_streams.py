"""Streams through real ``openai`` clients (sync and async) on the local fake: usage asked for and hidden,
the caller's own usage chunk shown, abandoned streams, ``with`` blocks, the ``.stream()`` helper and the
Responses API stream — one record each, after exactly one request."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

import ai_usage_monitor.instrumentation as inst
from ai_usage_monitor.context import usage_context
from tests.conftest import Instrumented
from tests.instrumentation.openai_support import (
    Clients,
    chat,
    chat_messages,
    directive,
    drain,
    invoke,
    only_record,
    pricer_cost,
    qwen_plus_cost,
)

USAGE = {"prompt_tokens": 900, "completion_tokens": 120, "cached_tokens": 100, "reasoning_tokens": 20}


def assert_usage(record: dict[str, Any], usage: dict[str, int]) -> None:
    assert record["success"] is True and record["stream"] is True and record["usage_missing"] is False
    assert (record["input_tokens"], record["output_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert (record["cached_tokens"], record["reasoning_tokens"]) == (
        usage["cached_tokens"],
        usage["reasoning_tokens"],
    )
    assert record["duration_ms"] > 0


def assert_unknown_usage(record: dict[str, Any]) -> None:
    assert record["usage_missing"] is True and record["priced"] is False and record["cost"] == 0
    assert (
        record["input_tokens"] is None and record["output_tokens"] is None and record["total_tokens"] is None
    )


async def test_stream_usage_is_asked_for_and_its_chunk_hidden(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.openai()
    with usage_context(user_id="u1", function="话术生成"):
        stream = await chat(client, "gpt-4o-mini", directive(chunks=4, **USAGE), stream=True)
    chunks = await drain(stream)
    assert len(chunks) == 5  # four pieces and the finish chunk; the usage-only chunk is hidden
    assert all(chunk.choices for chunk in chunks) and all(chunk.usage is None for chunk in chunks)
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}
    record = only_record(instrumented)
    assert_usage(record, USAGE)
    assert (record["model"], record["user_id"], record["function"]) == ("gpt-4o-mini", "u1", "话术生成")
    assert record["response_model"] == "gpt-4o-mini-2024-07-18"
    assert record["cost"] == pytest.approx(
        pricer_cost(instrumented.settings, "openai", "gpt-4o-mini", 900, 120, cached_tokens=100), rel=1e-9
    )
    assert len(fake.requests) == 1


async def test_callers_own_include_usage_chunk_reaches_the_caller(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.compatible()
    stream = await chat(
        client, "qwen-plus", directive(chunks=3, **USAGE), stream=True, stream_options={"include_usage": True}
    )
    chunks = await drain(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 900
    record = only_record(instrumented)
    assert_usage(record, USAGE)
    assert record["provider"] == "dashscope"
    # reasoning tokens reported: the whole output bills at qwen-plus's thinking price
    assert record["cost"] == pytest.approx(
        qwen_plus_cost(900, 120, cached_tokens=100, thinking=True), rel=1e-9
    )
    assert len(fake.requests) == 1


async def test_callers_include_usage_false_is_respected(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.openai()
    stream = await chat(
        client, "gpt-4o-mini", directive(**USAGE), stream=True, stream_options={"include_usage": False}
    )
    await drain(stream)
    assert fake.requests[0].json["stream_options"] == {"include_usage": False}
    assert_unknown_usage(only_record(instrumented))


async def test_stream_usage_setting_off_leaves_the_request_alone(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    inst.instrument(records_dir=instrumented.records_dir, timezone="Asia/Shanghai", stream_usage=False)
    client = clients.openai()
    stream = await chat(client, "gpt-4o-mini", directive(**USAGE), stream=True)
    chunks = await drain(stream)
    assert "stream_options" not in fake.requests[0].json
    assert chunks and all(chunk.choices for chunk in chunks)
    record = only_record(instrumented)
    assert_unknown_usage(record)
    assert record["success"] is True and record["model"] == "gpt-4o-mini"
    assert record["response_model"] == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize("how", ["close", "del_gc", "break_out_of_scope"])
async def test_stream_abandoned_after_two_chunks_records_once(
    instrumented: Instrumented, clients: Clients, fake: Any, how: str
) -> None:
    client = clients.openai()

    async def read_two() -> Any:
        stream = await chat(client, "gpt-4o-mini", directive(chunks=6, **USAGE), stream=True)
        assert len(await drain(stream, limit=2)) == 2
        return stream if how != "break_out_of_scope" else None  # else dropped here, as after a `break`

    stream = await read_two()
    if how == "close":
        await invoke(stream.close())
        assert len(instrumented.records()) == 1  # at once, not at collection
    del stream
    gc.collect()
    record = only_record(instrumented)
    assert_unknown_usage(record)  # the usage chunk never came
    assert record["success"] is True and record["stream"] is True
    assert len(fake.requests) == 1


async def test_with_block_records(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    client = clients.openai()
    stream = await chat(client, "gpt-4o-mini", directive(**USAGE), stream=True)
    if clients.is_async:
        async with stream as entered:
            assert entered is stream
            chunks = await drain(entered)
    else:
        with stream as entered:
            assert entered is stream
            chunks = await drain(entered)
    assert all(chunk.choices for chunk in chunks)
    assert_usage(only_record(instrumented), USAGE)
    assert len(fake.requests) == 1


async def test_with_block_left_early_records_once(instrumented: Instrumented, clients: Clients) -> None:
    client = clients.openai()
    stream = await chat(client, "gpt-4o-mini", directive(chunks=6, **USAGE), stream=True)
    if clients.is_async:
        async with stream:
            await drain(stream, limit=1)
    else:
        with stream:
            await drain(stream, limit=1)
    assert_unknown_usage(only_record(instrumented))


async def test_stream_helper_records_once(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    client = clients.openai()
    manager = client.chat.completions.stream(model="gpt-4o-mini", messages=chat_messages(directive(**USAGE)))
    if clients.is_async:
        async with manager as stream:
            events = await drain(stream)
            final = await stream.get_final_completion()
    else:
        with manager as stream:
            events = await drain(stream)
            final = stream.get_final_completion()
    assert any(event.type == "content.done" for event in events)
    assert final.choices[0].message.content
    assert_usage(only_record(instrumented), USAGE)
    assert len(fake.requests) == 1


async def test_stream_helper_left_early_records_once(instrumented: Instrumented, clients: Clients) -> None:
    client = clients.openai()
    manager = client.chat.completions.stream(
        model="gpt-4o-mini", messages=chat_messages(directive(chunks=6, **USAGE))
    )
    if clients.is_async:
        async with manager as stream:
            await drain(stream, limit=2)
    else:
        with manager as stream:
            await drain(stream, limit=2)
    del manager, stream
    # the helper closes the HTTP response past the proxy: the record ends when the stream is collected
    # (an async generator is finalised by the event loop, hence the turn of the loop)
    gc.collect()
    await asyncio.sleep(0)
    gc.collect()
    assert_unknown_usage(only_record(instrumented))


async def test_responses_stream(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    client = clients.openai()
    with usage_context(session_id="s-9"):
        stream = await invoke(
            client.responses.create(model="gpt-4o-mini", input=directive(**USAGE), stream=True)
        )
    events = await drain(stream)
    assert events[-1].type == "response.completed"
    record = only_record(instrumented)
    assert_usage(record, USAGE)
    assert (record["model"], record["session_id"]) == ("gpt-4o-mini", "s-9")
    assert record["response_model"] == "gpt-4o-mini-2024-07-18"
    assert record["request_id"] == events[-1].response.id
    assert "stream_options" not in fake.requests[0].json
    assert len(fake.requests) == 1


async def test_responses_stream_helper(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    client = clients.openai()
    manager = client.responses.stream(model="gpt-4o-mini", input=directive(**USAGE))
    if clients.is_async:
        async with manager as stream:
            await drain(stream)
            final = await stream.get_final_response()
    else:
        with manager as stream:
            await drain(stream)
            final = stream.get_final_response()
    assert final.usage is not None and final.usage.input_tokens == 900
    assert_usage(only_record(instrumented), USAGE)
    assert len(fake.requests) == 1
