"""One call, one record, in every shape a decorated function can take: nesting, executors, pool threads,
tasks that outlive the function, generators closed early (real openai SDK against the fake provider)."""

from __future__ import annotations

import asyncio
import gc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai

from ai_usage_monitor import track_ai_usage, usage_context
from tests.conftest import Instrumented

PROMPT = [{"role": "user", "content": "[[fake prompt_tokens=120 completion_tokens=30]]"}]


def _client(fake: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="t", max_retries=0)


def _async_client(fake: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="t", max_retries=0)


def _only_record(instrumented: Instrumented) -> dict[str, Any]:
    gc.collect()  # nothing may depend on it, but a pending record must not hide behind a cycle either
    records = instrumented.records()
    assert len(records) == 1, [(r["source"], r["function"], r["input_tokens"]) for r in records]
    return records[0]


def test_nested_decorated_functions_record_the_inner_call_once(
    instrumented: Instrumented, fake_provider: Any
) -> None:
    client = _client(fake_provider)

    @track_ai_usage("内层", "gpt-4o-mini")
    def inner() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)

    @track_ai_usage("外层", "gpt-4o-mini")
    def outer() -> Any:
        return inner()  # the outer function returns the same response, with its usage

    outer()
    record = _only_record(instrumented)
    assert (record["source"], record["function"], record["input_tokens"]) == ("openai", "内层", 120)


def test_nested_raw_functions_record_once(instrumented: Instrumented) -> None:
    @track_ai_usage("内层", "qwen-plus")
    def inner() -> dict[str, Any]:
        return {"usage": {"input_tokens": 300, "output_tokens": 40}}

    @track_ai_usage("外层", "qwen-plus")
    def outer() -> dict[str, Any]:
        return inner()

    outer()
    record = _only_record(instrumented)
    assert (record["source"], record["function"], record["input_tokens"]) == ("decorator", "内层", 300)


async def test_run_in_executor_inside_a_decorated_coroutine(
    instrumented: Instrumented, fake_provider: Any
) -> None:
    client = _client(fake_provider)

    @track_ai_usage("实时分析", "gpt-4o-mini")
    async def analyse() -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
        )

    with usage_context(anchor_id="anchor_1"):
        await analyse()
    record = _only_record(instrumented)
    # the call made in the executor's thread is attributed to the decorated function, and only it records
    assert (record["source"], record["function"], record["anchor_id"]) == ("openai", "实时分析", "anchor_1")


def test_thread_pool_work_inside_a_decorated_function(instrumented: Instrumented, fake_provider: Any) -> None:
    client = _client(fake_provider)

    @track_ai_usage("话术生成", "gpt-4o-mini")
    def generate() -> str:
        with ThreadPoolExecutor(max_workers=1) as pool:
            response = pool.submit(client.chat.completions.create, model="gpt-4o-mini", messages=PROMPT)
            return str(response.result().choices[0].message.content)  # text only: no usage returned

    assert isinstance(generate(), str)
    record = _only_record(instrumented)
    assert (record["source"], record["function"], record["input_tokens"]) == ("openai", "话术生成", 120)


async def test_task_that_outlives_the_decorated_coroutine(
    instrumented: Instrumented, fake_provider: Any
) -> None:
    client = _async_client(fake_provider)
    started: list[asyncio.Task[Any]] = []
    go = asyncio.Event()

    async def later() -> None:
        await go.wait()
        await client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)

    @track_ai_usage("后台分析", "gpt-4o-mini")
    async def kick_off() -> None:
        started.append(asyncio.create_task(later()))

    await kick_off()
    go.set()
    await started[0]
    started.clear()
    await client.close()
    record = _only_record(instrumented)
    assert (record["source"], record["function"], record["input_tokens"]) == ("openai", "后台分析", 120)


def test_decorated_generator_closed_early_writes_one_record(instrumented: Instrumented) -> None:
    @track_ai_usage("流式", "qwen-plus")
    def raw_stream() -> Any:
        yield {"usage": {"input_tokens": 50, "output_tokens": 1}}
        yield {"usage": {"input_tokens": 50, "output_tokens": 9}}
        yield {"usage": {"input_tokens": 50, "output_tokens": 20}}

    stream = raw_stream()
    assert next(stream)["usage"]["output_tokens"] == 1
    stream.close()
    record = _only_record(instrumented)
    assert (record["source"], record["input_tokens"], record["output_tokens"]) == ("decorator", 50, 1)


async def test_decorated_async_generator_closed_early_writes_one_record(instrumented: Instrumented) -> None:
    @track_ai_usage("流式", "qwen-plus")
    async def raw_stream() -> Any:
        yield {"usage": {"input_tokens": 70, "output_tokens": 2}}
        yield {"usage": {"input_tokens": 70, "output_tokens": 8}}

    stream = raw_stream()
    async for _ in stream:
        break
    await stream.aclose()
    record = _only_record(instrumented)
    assert (record["input_tokens"], record["output_tokens"]) == (70, 2)


def test_raw_function_without_usage_still_records_the_call(instrumented: Instrumented) -> None:
    @track_ai_usage("原始调用", "qwen-plus")
    def raw_call() -> str:
        return "text without usage"

    with usage_context(user_id="u9"):
        raw_call()
    record = _only_record(instrumented)
    assert (record["function"], record["user_id"], record["usage_missing"]) == ("原始调用", "u9", True)
    assert record["input_tokens"] is None and record["success"] is True
