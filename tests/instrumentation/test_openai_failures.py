"""Failures through real ``openai`` clients (sync and async) on the local fake: HTTP errors raise the very
class they raise without the monitor and write one failed record; mid-stream errors too."""

from __future__ import annotations

from typing import Any

import openai
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
)


async def _raised(call: Any) -> BaseException:
    with pytest.raises(openai.APIError) as caught:
        await invoke(call())
    return caught.value


@pytest.mark.parametrize(("status", "cls"), [(429, openai.RateLimitError), (500, openai.InternalServerError)])
async def test_http_error_raises_the_same_class_and_records_one_failure(
    instrumented: Instrumented, clients: Clients, fake: Any, status: int, cls: type[openai.APIStatusError]
) -> None:
    client = clients.openai()

    def call() -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=chat_messages(directive(error=status))
        )

    with usage_context(anchor_id="anchor_9", function="实时分析"):
        with_monitor = await _raised(call)
    assert len(fake.requests) == 1  # max_retries=0 and the SDK method called exactly once
    records = instrumented.records()
    inst.uninstrument()
    without_monitor = await _raised(call)
    assert type(with_monitor) is type(without_monitor) is cls
    assert len(instrumented.records()) == 1  # nothing recorded once uninstrumented

    (record,) = records
    assert record["success"] is False
    assert record["error_type"] == cls.__name__
    assert record["error_msg"] == str(with_monitor) and str(status) in record["error_msg"]
    assert (record["model"], record["anchor_id"], record["function"]) == (
        "gpt-4o-mini",
        "anchor_9",
        "实时分析",
    )
    assert record["input_tokens"] is None and record["cost"] == 0 and record["duration_ms"] > 0


@pytest.mark.parametrize("api", ["embeddings", "responses"])
async def test_http_error_on_other_apis(instrumented: Instrumented, clients: Clients, api: str) -> None:
    client = clients.openai()

    def call() -> Any:
        text = "x " + directive(error=429)
        if api == "embeddings":
            return client.embeddings.create(model="text-embedding-3-small", input=text)
        return client.responses.create(model="gpt-4o-mini", input=text)

    assert isinstance(await _raised(call), openai.RateLimitError)
    (record,) = instrumented.records()
    assert (record["success"], record["error_type"]) == (False, "RateLimitError")


async def test_chat_stream_error_midway_records_one_failure(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.openai()
    stream = await chat(client, "gpt-4o-mini", directive(chunks=5, stream_error_after=2), stream=True)
    received: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        received.extend(await drain(stream))
    (record,) = instrumented.records()
    assert record["success"] is False and record["stream"] is True
    assert record["error_type"] == type(caught.value).__name__
    assert record["error_msg"] == str(caught.value)
    assert record["model"] == "gpt-4o-mini"  # as asked, like every other call of it
    assert record["response_model"] == "gpt-4o-mini-2024-07-18"  # the chunks that did arrive named it
    assert len(fake.requests) == 1


async def test_responses_stream_error_midway_records_one_failure(
    instrumented: Instrumented, clients: Clients
) -> None:
    client = clients.openai()
    stream = await invoke(
        client.responses.create(model="gpt-4o-mini", input=directive(stream_error_after=2), stream=True)
    )
    with pytest.raises(openai.APIError):
        await drain(stream)
    (record,) = instrumented.records()
    assert record["success"] is False and record["error_msg"]
