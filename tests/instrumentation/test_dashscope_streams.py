"""DashScope streams through the real SDK and the local fake: usage is CUMULATIVE in every chunk, so the
record takes the last one; mid-stream errors, abandoned and closed streams still give exactly one record."""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus
from typing import Any

import pytest
from dashscope import (
    AioGeneration,
    AioMultiModalConversation,
    Application,
    Generation,
    MultiModalConversation,
)

from ai_usage_monitor import usage_context
from tests.instrumentation.dashscope_support import (
    QWEN_PLUS_TIERS,
    DashScopeMonitor,
    assert_cost,
    cost_cny,
    only,
    tokens,
    values,
)

GENERATION_PATH = "/api/v1/services/aigc/text-generation/generation"


def text_of(chunk: Any) -> str:
    output = chunk.output
    return output.choices[0].message.content if output.choices else output.text


def test_generation_stream_records_the_last_chunks_cumulative_usage(monitor: DashScopeMonitor) -> None:
    prompt = "[[fake prompt_tokens=4000 completion_tokens=900 cached_tokens=1000 chunks=4 delay_ms=15]]"
    started = time.perf_counter()
    with usage_context(user_id="u7", function="话术生成"):
        stream = Generation.call("qwen-plus", prompt=prompt, stream=True, incremental_output=True)
        assert monitor.records() == []  # nothing recorded before the stream ends
        chunks = list(stream)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert len(chunks) == 4
    # DashScope repeats the cumulative usage in every chunk
    assert [c.usage.output_tokens for c in chunks] == [225, 450, 675, 900]
    assert "".join(text_of(c) for c in chunks) == "This is a fake answer from the local provider."
    record = monitor.record()
    assert tokens(record) == (4000, 900, 1000, 0)  # the last chunk's, never the sum (2,250 output)
    expected = cost_cny(0.0008, 0.002, input_tokens=4000, output_tokens=900, cached_tokens=1000)
    assert_cost(record, expected)
    assert values(record, "stream", "success", "user_id", "function") == (True, True, "u7", "话术生成")
    # until the last frame: the fake waits 15 ms before each of the 4 frames
    assert 15 * 4 <= record["duration_ms"] <= elapsed_ms
    assert record["request_id"] == chunks[-1].request_id
    attributes = monitor.span_attributes()
    assert (attributes["gen_ai.request.stream"], attributes["gen_ai.usage.output_tokens"]) == (True, 900)
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert monitor.sdk_requests() == [GENERATION_PATH]


def test_thinking_stream_is_priced_at_the_thinking_price(monitor: DashScopeMonitor) -> None:
    prompt = "[[fake prompt_tokens=150000 completion_tokens=4000 reasoning_tokens=3000 chunks=3]]"
    stream = Generation.call(model="qwen-plus", prompt=prompt, stream=True, enable_thinking=True)
    assert len(list(stream)) == 3
    record = monitor.record()
    in_price, _, thinking_price = QWEN_PLUS_TIERS[1]
    expected = cost_cny(in_price, thinking_price, input_tokens=150_000, output_tokens=4000)
    assert round(expected, 2) == 0.46  # (150,000 x 0.0024 + 4,000 x 0.024) / 1K
    assert_cost(record, expected)
    assert tokens(record) == (150_000, 4000, 0, 3000)


@pytest.mark.usefixtures("aio_session")
async def test_aio_generation_stream(monitor: DashScopeMonitor) -> None:
    prompt = "[[fake prompt_tokens=9000 completion_tokens=3000 chunks=5]]"
    stream = await AioGeneration.call("qwen-plus", prompt=prompt, stream=True)
    chunks = [chunk async for chunk in stream]
    assert len(chunks) == 5
    record = monitor.record()
    assert tokens(record) == (9000, 3000, 0, 0)
    assert_cost(record, cost_cny(0.0008, 0.002, input_tokens=9000, output_tokens=3000))
    assert values(record, "stream", "success", "model") == (True, True, "qwen-plus")
    assert monitor.sdk_requests() == [GENERATION_PATH]


def vision_messages(directive: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"image": "http://127.0.0.1/cat.png"}, {"text": directive}]}]


def test_multimodal_stream(monitor: DashScopeMonitor) -> None:
    messages = vision_messages("[[fake prompt_tokens=2500 completion_tokens=300 chunks=3]]")
    chunks = list(MultiModalConversation.call(model="qwen-vl-max", messages=messages, stream=True))
    assert len(chunks) == 3
    record = monitor.record()
    assert (record["model"], tokens(record)) == ("qwen-vl-max", (2500, 300, 0, 0))
    assert_cost(record, cost_cny(0.0016, 0.004, input_tokens=2500, output_tokens=300))


@pytest.mark.usefixtures("aio_session")
async def test_aio_multimodal_stream(monitor: DashScopeMonitor) -> None:
    messages = vision_messages("[[fake prompt_tokens=2500 completion_tokens=300 chunks=2]]")
    stream = await AioMultiModalConversation.call(model="qwen-vl-plus", messages=messages, stream=True)
    assert len([chunk async for chunk in stream]) == 2
    record = monitor.record()
    assert (record["model"], record["stream"], tokens(record)) == ("qwen-vl-plus", True, (2500, 300, 0, 0))


def test_application_stream(monitor: DashScopeMonitor) -> None:
    prompt = "[[fake prompt_tokens=6000 completion_tokens=400 chunks=4]]"
    assert len(list(Application.call("app-7", prompt=prompt, stream=True))) == 4
    record = monitor.record()
    assert values(record, "model", "operation", "stream") == ("qwen-plus", "invoke_agent", True)
    assert tokens(record) == (6000, 400, 0, 0)
    assert_cost(record, cost_cny(0.0008, 0.002, input_tokens=6000, output_tokens=400))
    assert monitor.sdk_requests() == ["/api/v1/apps/app-7/completion"]


MID_STREAM_ERROR = "[[fake prompt_tokens=1000 completion_tokens=500 chunks=5 stream_error_after=2]]"


def assert_one_failed_record_with_usage_so_far(monitor: DashScopeMonitor, chunks: list[Any]) -> None:
    assert [int(c.status_code) == HTTPStatus.OK for c in chunks] == [True, True, False]
    error = chunks[-1]
    assert error.code
    record = monitor.record()
    assert values(record, "success", "error_type", "error_msg") == (False, error.code, error.message)
    assert tokens(record) == (1000, 200, 0, 0)  # what the two good frames said: 2 of 5 pieces
    assert_cost(record, cost_cny(0.0008, 0.002, input_tokens=1000, output_tokens=200))
    assert monitor.span_attributes()["error.type"] == error.code
    assert monitor.sdk_requests() == [GENERATION_PATH]


def test_mid_stream_error_gives_one_failed_record(monitor: DashScopeMonitor) -> None:
    chunks = list(Generation.call("qwen-plus", prompt=MID_STREAM_ERROR, stream=True))
    assert_one_failed_record_with_usage_so_far(monitor, chunks)


@pytest.mark.usefixtures("aio_session")
async def test_aio_mid_stream_error_gives_one_failed_record(monitor: DashScopeMonitor) -> None:
    stream = await AioGeneration.call("qwen-plus", prompt=MID_STREAM_ERROR, stream=True)
    chunks = [chunk async for chunk in stream]
    assert_one_failed_record_with_usage_so_far(monitor, chunks)


def test_a_stream_refused_with_429_gives_one_failed_record(monitor: DashScopeMonitor) -> None:
    chunks = list(Generation.call("qwen-plus", prompt="[[fake error=429]]", stream=True))
    assert [c.status_code for c in chunks] == [429]
    record = monitor.record()
    assert values(record, "success", "error_type", "stream") == (False, "Throttling.RateQuota", True)
    assert values(record, "input_tokens", "output_tokens") == (None, None)
    assert monitor.sdk_requests() == [GENERATION_PATH]


ABANDONED = "[[fake prompt_tokens=3000 completion_tokens=600 chunks=6]]"


def test_a_stream_abandoned_after_two_chunks_gives_one_record(monitor: DashScopeMonitor) -> None:
    stream = Generation.call("qwen-plus", prompt=ABANDONED, stream=True)
    for i, _ in enumerate(stream):
        if i == 1:
            break
    assert monitor.records() == []
    del stream  # dropped by the caller: finalised at once, no gc.collect() needed
    record = monitor.record()
    assert values(record, "success", "stream") == (True, True)
    assert tokens(record) == (3000, 200, 0, 0)  # as far as the caller read: 2 of 6 pieces
    assert len(monitor.spans()) == 1
    assert monitor.sdk_requests() == [GENERATION_PATH]


def test_a_closed_stream_gives_one_record(monitor: DashScopeMonitor) -> None:
    stream = Generation.call("qwen-plus", prompt=ABANDONED, stream=True)
    next(stream)
    stream.close()
    assert tokens(monitor.record()) == (3000, 100, 0, 0)
    del stream
    assert len(monitor.records()) == 1


async def read_two_chunks(stream: Any) -> None:
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 2:
            break


@pytest.mark.usefixtures("aio_session")
async def test_an_async_stream_closed_after_two_chunks_gives_one_record(monitor: DashScopeMonitor) -> None:
    stream = await AioGeneration.call("qwen-plus", prompt=ABANDONED, stream=True)
    await read_two_chunks(stream)
    assert monitor.records() == []
    await stream.aclose()
    record = monitor.record()
    assert (record["success"], tokens(record)) == (True, (3000, 200, 0, 0))


@pytest.mark.usefixtures("aio_session")
async def test_an_async_stream_dropped_after_two_chunks_gives_one_record(monitor: DashScopeMonitor) -> None:
    stream = await AioGeneration.call("qwen-plus", prompt=ABANDONED, stream=True)
    await read_two_chunks(stream)
    del stream  # the event loop's async-generator finaliser closes it
    deadline = time.monotonic() + 2
    while not monitor.records() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert tokens(only(monitor.records())) == (3000, 200, 0, 0)


def test_a_stream_never_iterated_sends_nothing_and_records_nothing(monitor: DashScopeMonitor) -> None:
    stream = Generation.call("qwen-plus", prompt="never read", stream=True)
    del stream  # the SDK sends its request on the first iteration: no call was made, nothing was billed
    assert monitor.records() == []
    assert monitor.sdk_requests() == []
