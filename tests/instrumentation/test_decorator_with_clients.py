"""track_ai_usage around real instrumented SDK calls: one record per call, attributed to the decorator."""

from __future__ import annotations

from typing import Any

import dashscope
import openai

from ai_usage_monitor import track_ai_usage, usage_context
from tests.conftest import Instrumented
from tests.support.dashscope import dashscope_aimed_at


def test_decorated_openai_call_records_once(instrumented: Instrumented, fake_provider: Any) -> None:
    client = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="t", max_retries=0)

    @track_ai_usage("实时分析", "gpt-4o-mini")
    def analyse() -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "[[fake prompt_tokens=120 completion_tokens=30]]"}],
        )

    with usage_context(user_id="u1", anchor_id="a1"):
        response = analyse()
    assert response.usage.prompt_tokens == 120
    [record] = instrumented.records()
    assert record["source"] == "openai"  # the instrumented call's record, not a second one by the decorator
    assert (record["function"], record["user_id"], record["anchor_id"]) == ("实时分析", "u1", "a1")
    assert (record["input_tokens"], record["output_tokens"]) == (120, 30)


async def test_decorated_async_stream_records_once(instrumented: Instrumented, fake_provider: Any) -> None:
    client = openai.AsyncOpenAI(base_url=fake_provider.openai_base_url, api_key="t", max_retries=0)

    @track_ai_usage("话术生成", "gpt-4o-mini")
    async def script() -> list[Any]:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "[[fake prompt_tokens=50 completion_tokens=9 chunks=3]]"}],
            stream=True,
        )
        return [chunk async for chunk in stream]

    chunks = await script()
    assert chunks and all(chunk.choices for chunk in chunks)  # the added usage chunk stays hidden
    [record] = instrumented.records()
    assert (record["function"], record["source"], record["stream"]) == ("话术生成", "openai", True)
    assert (record["input_tokens"], record["output_tokens"]) == (50, 9)


def test_decorated_dashscope_generator_records_once(instrumented: Instrumented, fake_provider: Any) -> None:
    @track_ai_usage("实时分析", "qwen-plus")
    def stream_analysis() -> Any:
        yield from dashscope.Generation.call(
            model="qwen-plus",
            messages=[
                {"role": "user", "content": "[[fake prompt_tokens=300 completion_tokens=12 chunks=4]]"}
            ],
            result_format="message",
            stream=True,
        )

    with dashscope_aimed_at(fake_provider):
        chunks = list(stream_analysis())
    assert len(chunks) >= 2
    [record] = instrumented.records()
    assert (record["function"], record["source"], record["model"]) == ("实时分析", "dashscope", "qwen-plus")
    assert (record["input_tokens"], record["output_tokens"]) == (300, 12)
