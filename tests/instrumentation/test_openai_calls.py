"""Real ``openai`` clients (sync and async) against the local fake: every non-stream call of every wrapped
method writes exactly one priced record, attributed to the usage context, after exactly one request."""

from __future__ import annotations

from typing import Any

import pytest

from ai_usage_monitor.context import usage_context
from tests.conftest import Instrumented
from tests.instrumentation.openai_support import (
    Clients,
    chat,
    chat_messages,
    directive,
    invoke,
    only_record,
    pricer_cost,
    qwen_plus_cost,
)

CONTEXT = {
    "user_id": "user_001",
    "anchor_id": "anchor_123",
    "session_id": "session_456",
    "function": "实时分析",
}
USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "cached_tokens": 200, "reasoning_tokens": 40}
#: ``USAGE`` as the record must carry it
RECORDED_USAGE = {"input_tokens": 1200, "output_tokens": 300, "cached_tokens": 200, "reasoning_tokens": 40}


def in_context() -> usage_context:
    """The attribution every call of this module runs under (``CONTEXT``)."""
    return usage_context(
        user_id="user_001", anchor_id="anchor_123", session_id="session_456", function="实时分析"
    )


def assert_call(record: dict[str, Any], **expected: Any) -> None:
    assert {key: record[key] for key in expected} == expected
    assert record["duration_ms"] > 0
    assert record["success"] is True and record["error_msg"] is None
    assert record["source"] == "openai"
    assert {key: record[key] for key in CONTEXT} == CONTEXT


async def test_chat_create_openai_model_snapshot_priced(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.openai()
    with in_context():
        completion = await chat(client, "gpt-4o-mini", "hi " + directive(**USAGE))
    record = only_record(instrumented)
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert_call(
        record,
        model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        request_model=None,
        provider="openai",
        operation="chat",
        stream=False,
        **RECORDED_USAGE,
        total_tokens=1500,
        request_id=completion.id,
        priced=True,
        currency="CNY",
        usage_missing=False,
    )
    expected = pricer_cost(instrumented.settings, "openai", "gpt-4o-mini", 1200, 300, cached_tokens=200)
    assert expected > 0
    assert record["cost"] == pytest.approx(expected, rel=1e-9)
    assert len(fake.requests) == 1


async def test_chat_create_compatible_mode_priced_as_dashscope(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    client = clients.compatible()
    with in_context():
        await chat(
            client, "qwen-plus", directive(prompt_tokens=2000, completion_tokens=700, cached_tokens=500)
        )
    record = only_record(instrumented)
    assert_call(record, model="qwen-plus", provider="dashscope", input_tokens=2000, output_tokens=700)
    assert record["price_ref"].startswith("dashscope/qwen-plus@")
    assert record["cost"] == pytest.approx(qwen_plus_cost(2000, 700, cached_tokens=500), rel=1e-9)
    assert record["cost"] == pytest.approx((1500 * 0.0008 + 500 * 0.00016 + 700 * 0.002) / 1000, rel=1e-9)
    assert [r.path for r in fake.requests] == ["/compatible-mode/v1/chat/completions"]


async def test_chat_compatible_mode_thinking_is_billed_at_thinking_price(
    instrumented: Instrumented, clients: Clients
) -> None:
    client = clients.compatible()
    await chat(
        client,
        "qwen-plus",
        directive(prompt_tokens=1000, completion_tokens=500, reasoning_tokens=300),
        extra_body={"enable_thinking": True},
    )
    record = only_record(instrumented)
    assert (record["reasoning_tokens"], record["output_tokens"]) == (300, 500)
    assert record["cost"] == pytest.approx(qwen_plus_cost(1000, 500, thinking=True), rel=1e-9)


async def test_chat_parse_records_once(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    client = clients.openai()
    with in_context():
        parsed = await invoke(
            client.chat.completions.parse(model="gpt-4o-mini", messages=chat_messages(directive(**USAGE)))
        )
    assert parsed.choices[0].message.content
    assert_call(
        only_record(instrumented),
        model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        **RECORDED_USAGE,
    )
    assert len(fake.requests) == 1


async def test_embeddings(instrumented: Instrumented, clients: Clients, fake: Any) -> None:
    client = clients.openai()
    with in_context():
        result = await invoke(
            client.embeddings.create(
                model="text-embedding-3-small", input=["弹幕分析 " + directive(prompt_tokens=64)]
            )
        )
    assert result.data
    record = only_record(instrumented)
    assert_call(
        record,
        model="text-embedding-3-small",
        operation="embeddings",
        input_tokens=64,
        output_tokens=0,
        cached_tokens=0,
        reasoning_tokens=0,
        priced=True,
    )
    assert record["cost"] == pytest.approx(
        pricer_cost(instrumented.settings, "openai", "text-embedding-3-small", 64, 0), rel=1e-9
    )
    assert len(fake.requests) == 1


@pytest.mark.parametrize("method", ["create", "parse"])
async def test_responses_non_stream(
    instrumented: Instrumented, clients: Clients, fake: Any, method: str
) -> None:
    client = clients.openai()
    with in_context():
        response = await invoke(
            getattr(client.responses, method)(model="gpt-4o-mini", input="hello " + directive(**USAGE))
        )
    record = only_record(instrumented)
    assert_call(
        record,
        model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        operation="chat",
        stream=False,
        **RECORDED_USAGE,
        request_id=response.id,
    )
    assert record["cost"] == pytest.approx(
        pricer_cost(instrumented.settings, "openai", "gpt-4o-mini", 1200, 300, cached_tokens=200), rel=1e-9
    )
    assert len(fake.requests) == 1


async def test_usage_details_absent_means_zero_cached_and_reasoning(
    instrumented: Instrumented, clients: Clients
) -> None:
    client = clients.openai()
    await chat(client, "gpt-4o-mini", directive(prompt_tokens=10, completion_tokens=5, details=0))
    record = only_record(instrumented)
    assert (record["input_tokens"], record["cached_tokens"], record["reasoning_tokens"]) == (10, 0, 0)
    assert record["usage_missing"] is False
