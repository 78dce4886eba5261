"""The fake provider driven by the real ``openai`` and ``dashscope`` SDKs over loopback HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from typing import Any

import dashscope
import openai
import pytest

from ai_usage_monitor.testing.fake.scenario import DEFAULT_ANSWER
from ai_usage_monitor.testing.fake_provider import FakeProvider

USAGE = {"prompt_tokens": 1300, "completion_tokens": 50, "cached_tokens": 100, "reasoning_tokens": 20}


def directive(**values: int) -> str:
    return "[[fake " + " ".join(f"{key}={value}" for key, value in values.items()) + "]]"


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def client(fake: FakeProvider, base_url: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url or fake.openai_base_url, api_key="test", max_retries=0)


def aclient(fake: FakeProvider) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0)


def assert_chat_usage(usage: Any, values: dict[str, int]) -> None:
    assert usage.prompt_tokens == values["prompt_tokens"]
    assert usage.completion_tokens == values["completion_tokens"]
    assert usage.total_tokens == values["prompt_tokens"] + values["completion_tokens"]
    assert usage.prompt_tokens_details.cached_tokens == values["cached_tokens"]
    assert usage.completion_tokens_details.reasoning_tokens == values["reasoning_tokens"]


# --- OpenAI protocol ---------------------------------------------------------------------------------


def test_openai_chat_returns_directive_usage_and_snapshot_model(fake: FakeProvider) -> None:
    result = client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=ask("hi " + directive(**USAGE))
    )

    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.choices[0].message.content == DEFAULT_ANSWER
    assert result.choices[0].finish_reason == "stop"
    assert_chat_usage(result.usage, USAGE)
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test"
    assert request.json["messages"][-1]["content"].startswith("hi ")


def test_openai_chat_without_directive_is_deterministic_and_nonzero(fake: FakeProvider) -> None:
    first, second = (
        client(fake).chat.completions.create(model="my-model", messages=ask("same text")) for _ in range(2)
    )
    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    assert first.usage.model_dump() == second.usage.model_dump()
    assert first.model == "my-model"


def test_openai_chat_stream_without_include_usage_carries_no_usage(fake: FakeProvider) -> None:
    stream = client(fake).chat.completions.create(
        model="gpt-4o", messages=ask(directive(chunks=5)), stream=True
    )
    chunks = list(stream)

    assert len(chunks) == 6  # five content chunks and the finish chunk
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == DEFAULT_ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {chunk.model for chunk in chunks} == {"gpt-4o-2024-08-06"}


def test_openai_chat_stream_with_include_usage_ends_with_usage_chunk(fake: FakeProvider) -> None:
    stream = client(fake).chat.completions.create(
        model="gpt-4o-mini",
        messages=ask(directive(chunks=2, **USAGE)),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert [len(c.choices) for c in chunks] == [1, 1, 1, 0]
    assert all(c.usage is None for c in chunks[:-1])
    assert_chat_usage(chunks[-1].usage, USAGE)


def test_openai_chat_stream_error_after_two_chunks_raises(fake: FakeProvider) -> None:
    stream = client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=ask(directive(stream_error_after=2)), stream=True
    )
    received = []
    with pytest.raises(openai.APIError, match="fake stream error"):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
    ],
)
def test_openai_error_directive_raises_matching_error(
    fake: FakeProvider, status: int, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as caught:
        client(fake).chat.completions.create(model="gpt-4o-mini", messages=ask(directive(error=status)))
    assert caught.value.status_code == status
    assert len(fake.requests) == 1


def test_openai_bad_directive_is_a_clear_400(fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown item 'prompt=3'"):
        client(fake).chat.completions.create(model="gpt-4o-mini", messages=ask("[[fake prompt=3]]"))


def test_openai_usage_details_can_be_omitted(fake: FakeProvider) -> None:
    result = client(fake).chat.completions.create(model="gpt-4o-mini", messages=ask(directive(details=0)))
    assert result.usage is not None
    assert result.usage.prompt_tokens_details is None
    assert result.usage.completion_tokens_details is None


def test_compatible_mode_serves_openai_protocol(fake: FakeProvider) -> None:
    compat = client(fake, base_url=fake.compatible_base_url)
    result = compat.chat.completions.create(model="qwen-plus", messages=ask(directive(**USAGE)))

    assert result.model == "qwen-plus"
    assert_chat_usage(result.usage, USAGE)
    assert fake.requests[-1].path == "/compatible-mode/v1/chat/completions"


@pytest.mark.parametrize("encoding_format", ["float", None])
def test_openai_embeddings(fake: FakeProvider, encoding_format: str | None) -> None:
    extra: dict[str, Any] = {"encoding_format": encoding_format} if encoding_format else {}
    result = client(fake).embeddings.create(
        model="text-embedding-3-small",
        input=["a " + directive(prompt_tokens=42), "b"],
        dimensions=16,
        **extra,
    )

    assert result.usage.prompt_tokens == 42 and result.usage.total_tokens == 42
    assert [len(item.embedding) for item in result.data] == [16, 16]
    assert all(-1.0 <= value <= 1.0 for value in result.data[0].embedding)
    assert fake.requests[-1].json["encoding_format"] == (encoding_format or "base64")


def test_openai_responses_non_stream(fake: FakeProvider) -> None:
    result = client(fake).responses.create(model="gpt-4.1", input="hello " + directive(**USAGE))

    assert result.model == "gpt-4.1-2025-04-14"
    assert result.output_text == DEFAULT_ANSWER
    assert result.usage is not None
    assert result.usage.input_tokens == USAGE["prompt_tokens"]
    assert result.usage.output_tokens == USAGE["completion_tokens"]
    assert result.usage.input_tokens_details.cached_tokens == USAGE["cached_tokens"]
    assert result.usage.output_tokens_details.reasoning_tokens == USAGE["reasoning_tokens"]


def test_openai_responses_stream_ends_with_completed_usage(fake: FakeProvider) -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": directive(chunks=2, **USAGE)}]}]
    events = list(client(fake).responses.create(model="gpt-4.1", input=items, stream=True))

    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert completed.response.usage.input_tokens == USAGE["prompt_tokens"]
    assert completed.response.usage.output_tokens_details.reasoning_tokens == USAGE["reasoning_tokens"]
    assert completed.response.output_text == DEFAULT_ANSWER


def test_openai_responses_stream_error_raises(fake: FakeProvider) -> None:
    stream = client(fake).responses.create(
        model="gpt-4.1", input=directive(stream_error_after=1), stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


async def test_openai_async_chat_and_stream(fake: FakeProvider) -> None:
    async with aclient(fake) as ac:
        result = await ac.chat.completions.create(model="gpt-4o-mini", messages=ask(directive(**USAGE)))
        assert_chat_usage(result.usage, USAGE)
        stream = await ac.chat.completions.create(
            model="gpt-4o-mini",
            messages=ask(directive(**USAGE)),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert_chat_usage(chunks[-1].usage, USAGE)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_ANSWER


async def test_openai_async_stream_error_and_rate_limit(fake: FakeProvider) -> None:
    async with aclient(fake) as ac:
        stream = await ac.chat.completions.create(
            model="gpt-4o-mini", messages=ask(directive(stream_error_after=1)), stream=True
        )
        received = []
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                received.append(chunk)
        assert len(received) == 1
        with pytest.raises(openai.RateLimitError):
            await ac.chat.completions.create(model="gpt-4o-mini", messages=ask(directive(error=429)))


async def test_openai_async_embeddings_and_responses(fake: FakeProvider) -> None:
    async with aclient(fake) as ac:
        embedded = await ac.embeddings.create(
            model="text-embedding-3-small", input=directive(prompt_tokens=9)
        )
        response = await ac.responses.create(model="o4-mini", input=directive(**USAGE), stream=True)
        events = [event async for event in response]
    assert embedded.usage.prompt_tokens == 9
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage is not None
    assert events[-1].response.usage.output_tokens == USAGE["completion_tokens"]


def test_delay_directive_delays_the_answer(fake: FakeProvider) -> None:
    started = time.perf_counter()
    client(fake).chat.completions.create(model="gpt-4o-mini", messages=ask(directive(delay_ms=60)))
    assert time.perf_counter() - started >= 0.06


def test_latency_ms_delays_every_answer() -> None:
    with FakeProvider(latency_ms=40) as slow:
        started = time.perf_counter()
        client(slow).chat.completions.create(model="gpt-4o-mini", messages=ask("hi"))
        assert time.perf_counter() - started >= 0.04


def test_health_and_unknown_route(fake: FakeProvider) -> None:
    with urllib.request.urlopen(f"{fake.base_url}/health") as answer:
        assert answer.status == 200
        assert json.loads(answer.read()) == {"status": "ok"}
    request = urllib.request.Request(f"{fake.base_url}/v1/nothing", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 404


# --- DashScope native protocol -----------------------------------------------------------------------


def assert_dashscope_usage(usage: Any, values: dict[str, int], output_tokens: int | None = None) -> None:
    output = values["completion_tokens"] if output_tokens is None else output_tokens
    assert usage["input_tokens"] == values["prompt_tokens"]
    assert usage["output_tokens"] == output
    assert usage["total_tokens"] == values["prompt_tokens"] + output
    assert usage["prompt_tokens_details"]["cached_tokens"] == values["cached_tokens"]


def test_dashscope_generation_message_format(dashscope_fake: FakeProvider) -> None:
    result = dashscope.Generation.call(
        "qwen-plus", messages=ask("你好 " + directive(**USAGE)), result_format="message"
    )

    assert result.status_code == HTTPStatus.OK
    assert result.output.choices[0].message.content == DEFAULT_ANSWER
    assert_dashscope_usage(result.usage, USAGE)
    assert result.usage.output_tokens_details["reasoning_tokens"] == USAGE["reasoning_tokens"]
    (request,) = dashscope_fake.requests
    assert request.path == "/api/v1/services/aigc/text-generation/generation"
    assert request.json["model"] == "qwen-plus"
    assert request.json["input"]["messages"][-1]["content"].startswith("你好")


def test_dashscope_generation_text_format_and_thinking(dashscope_fake: FakeProvider) -> None:
    plain = dashscope.Generation.call(model="qwen-turbo", prompt="hi")
    thinking = dashscope.Generation.call(
        model="qwen-plus", messages=ask("hi"), result_format="message", enable_thinking=True
    )

    assert plain.output.text == DEFAULT_ANSWER and plain.output.finish_reason == "stop"
    assert "output_tokens_details" not in plain.usage and "prompt_tokens_details" not in plain.usage
    reasoning = thinking.usage["output_tokens_details"]["reasoning_tokens"]
    assert 0 < reasoning < thinking.usage["output_tokens"]
    assert thinking.output.choices[0].message["reasoning_content"]


@pytest.mark.parametrize("incremental", [None, True, False])
def test_dashscope_generation_stream_has_cumulative_usage(
    dashscope_fake: FakeProvider, incremental: bool | None
) -> None:
    extra = {} if incremental is None else {"incremental_output": incremental}
    responses = list(
        dashscope.Generation.call(
            "qwen-plus",
            messages=ask(directive(chunks=4, **USAGE)),
            result_format="message",
            stream=True,
            **extra,
        )
    )

    assert [r.status_code for r in responses] == [HTTPStatus.OK] * 4
    outputs = [r.usage["output_tokens"] for r in responses]
    assert outputs == sorted(outputs) and outputs[-1] == USAGE["completion_tokens"]
    assert_dashscope_usage(responses[-1].usage, USAGE)
    texts = [r.output.choices[0].message.content for r in responses]
    assert ("".join(texts) if incremental else texts[-1]) == DEFAULT_ANSWER
    assert responses[-1].output.choices[0].finish_reason == "stop"
    assert dashscope_fake.requests[-1].headers["x-dashscope-sse"] == "enable"


def test_dashscope_error_is_returned_with_status(dashscope_fake: FakeProvider) -> None:
    result = dashscope.Generation.call("qwen-plus", prompt=directive(error=429))

    assert result.status_code == 429
    assert result.code == "Throttling.RateQuota"
    assert result.usage is None
    assert result.request_id.startswith("fake-")


def test_dashscope_mid_stream_error_ends_with_error_response(dashscope_fake: FakeProvider) -> None:
    responses = list(
        dashscope.Generation.call("qwen-plus", prompt=directive(stream_error_after=2), stream=True)
    )

    assert [r.status_code for r in responses[:2]] == [HTTPStatus.OK, HTTPStatus.OK]
    assert len(responses) == 3
    assert responses[-1].status_code != HTTPStatus.OK
    assert responses[-1].code == "InternalError"


async def test_dashscope_aio_generation(aio_dashscope_fake: FakeProvider) -> None:
    result = await dashscope.AioGeneration.call("qwen-plus", messages=ask(directive(**USAGE)))
    assert result.status_code == HTTPStatus.OK
    assert_dashscope_usage(result.usage, USAGE)

    stream = await dashscope.AioGeneration.call(
        "qwen-plus", messages=ask(directive(chunks=3, **USAGE)), stream=True, incremental_output=True
    )
    responses = [r async for r in stream]
    assert len(responses) == 3
    assert_dashscope_usage(responses[-1].usage, USAGE)
    assert "".join(r.output.text for r in responses) == DEFAULT_ANSWER


async def test_dashscope_aio_mid_stream_error(aio_dashscope_fake: FakeProvider) -> None:
    stream = await dashscope.AioGeneration.call(
        "qwen-plus", prompt=directive(stream_error_after=1), stream=True
    )
    responses = [r async for r in stream]
    assert [r.status_code for r in responses][:1] == [HTTPStatus.OK]
    assert responses[-1].status_code != HTTPStatus.OK
    assert responses[-1].code == "InternalError"


def test_dashscope_multimodal_conversation(dashscope_fake: FakeProvider) -> None:
    messages = [
        {
            "role": "user",
            "content": [{"image": "https://example.invalid/a.png"}, {"text": directive(**USAGE)}],
        }
    ]
    result = dashscope.MultiModalConversation.call(model="qwen-vl-plus", messages=messages)

    assert result.status_code == HTTPStatus.OK
    assert result.output.choices[0].message.content == [{"text": DEFAULT_ANSWER}]
    assert_dashscope_usage(result.usage, USAGE)
    assert dashscope_fake.requests[-1].path.endswith("/multimodal-generation/generation")


async def test_dashscope_aio_multimodal_stream(aio_dashscope_fake: FakeProvider) -> None:
    messages = [{"role": "user", "content": [{"text": directive(chunks=2, **USAGE)}]}]
    stream = await dashscope.AioMultiModalConversation.call(
        model="qwen-vl-max", messages=messages, stream=True
    )
    responses = [r async for r in stream]
    assert len(responses) == 2
    assert_dashscope_usage(responses[-1].usage, USAGE)


def test_dashscope_text_embedding(dashscope_fake: FakeProvider) -> None:
    result = dashscope.TextEmbedding.call(
        model="text-embedding-v3", input=["one " + directive(prompt_tokens=17), "two"], dimension=64
    )

    assert result.status_code == HTTPStatus.OK
    assert result.usage["total_tokens"] == 17
    assert [len(e["embedding"]) for e in result.output["embeddings"]] == [64, 64]
    assert dashscope_fake.requests[-1].path == "/api/v1/services/embeddings/text-embedding/text-embedding"


def test_dashscope_application(dashscope_fake: FakeProvider) -> None:
    result = dashscope.Application.call(
        "app-123", prompt="hi " + directive(prompt_tokens=11, completion_tokens=5)
    )

    assert result.status_code == HTTPStatus.OK
    assert result.output.text == DEFAULT_ANSWER
    (model,) = result.usage.models
    assert (model.model_id, model.input_tokens, model.output_tokens) == ("qwen-plus", 11, 5)
    assert dashscope_fake.requests[-1].path == "/api/v1/apps/app-123/completion"


def test_dashscope_application_stream(dashscope_fake: FakeProvider) -> None:
    responses = list(
        dashscope.Application.call("app-9", prompt=directive(chunks=3, completion_tokens=30), stream=True)
    )
    assert [r.usage.models[0].output_tokens for r in responses] == [10, 20, 30]
    assert responses[-1].output.text == DEFAULT_ANSWER


def test_standalone_server_runs_until_sigterm() -> None:
    command = [sys.executable, "-m", "ai_usage_monitor.testing.fake_provider", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        openai_url = process.stdout.readline().split()[-1]
        compat = openai.OpenAI(base_url=openai_url, api_key="test", max_retries=0)
        result = compat.chat.completions.create(model="gpt-4o-mini", messages=ask(directive(prompt_tokens=3)))
        assert result.usage is not None and result.usage.prompt_tokens == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
