"""The real DashScope SDK against the local fake over HTTP, non-streaming: one exact, priced record
(and one span) per call, the SDK method called exactly once, its response returned unchanged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
from dashscope import (
    AioGeneration,
    AioMultiModalConversation,
    Application,
    Generation,
    MultiModalConversation,
    TextEmbedding,
)
from dashscope.common.error import InputRequired

from ai_usage_monitor import usage_context
from ai_usage_monitor.pricing import clear_registered_prices, register_price
from tests.instrumentation.dashscope_support import (
    QWEN_PLUS_TIERS,
    DashScopeMonitor,
    assert_cost,
    cost_cny,
    tokens,
    values,
)

GENERATION_PATH = "/api/v1/services/aigc/text-generation/generation"
MULTIMODAL_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
APP_PATH = "/api/v1/apps/app-42/completion"


def test_generation_above_128k_input_bills_the_whole_call_at_the_second_tier(
    monitor: DashScopeMonitor,
) -> None:
    # 140,000 is above the "128K" boundary whether K is 1,000 or 1,024 (pricing/README.md: 131,072).
    prompt = "分析 [[fake prompt_tokens=140000 completion_tokens=800 cached_tokens=20000]]"
    started = time.time()
    response = Generation.call("qwen-plus", prompt=prompt)  # model passed by position
    assert response.status_code == HTTPStatus.OK
    record = monitor.record()
    in_price, out_price, _ = QWEN_PLUS_TIERS[1]
    expected = cost_cny(in_price, out_price, input_tokens=140_000, output_tokens=800, cached_tokens=20_000)
    assert round(expected, 2) == 0.31  # (120,000 x 0.0024 + 20,000 x 0.00048 + 800 x 0.02) / 1K
    assert_cost(record, expected)
    assert str(record["price_ref"]).endswith("#tier1")
    assert tokens(record) == (140_000, 800, 20_000, 0)
    assert values(record, "model", "total_tokens", "provider", "operation", "source") == (
        "qwen-plus",
        140_800,
        "dashscope",
        "chat",
        "dashscope",
    )
    assert values(record, "stream", "success", "error_msg", "request_id") == (
        False,
        True,
        None,
        response.request_id,
    )
    assert started <= record["timestamp"] <= time.time()
    assert monitor.sdk_requests() == [GENERATION_PATH]


def test_generation_above_256k_input_bills_at_the_third_tier(monitor: DashScopeMonitor) -> None:
    messages = [{"role": "user", "content": "[[fake prompt_tokens=300000 completion_tokens=1000]]"}]
    Generation.call(model="qwen-plus", messages=messages)
    record = monitor.record()
    in_price, out_price, _ = QWEN_PLUS_TIERS[2]
    expected = cost_cny(in_price, out_price, input_tokens=300_000, output_tokens=1000)
    assert round(expected, 2) == 1.49  # (300,000 x 0.0048 + 1,000 x 0.048) / 1K
    assert_cost(record, expected)
    assert str(record["price_ref"]).endswith("#tier2")


def test_thinking_mode_bills_output_at_the_thinking_price(monitor: DashScopeMonitor) -> None:
    prompt = "[[fake prompt_tokens=2000 completion_tokens=3000 reasoning_tokens=2500]]"
    response = Generation.call("qwen-plus", prompt=prompt, enable_thinking=True, result_format="message")
    assert response.usage.output_tokens_details["reasoning_tokens"] == 2500
    record = monitor.record()
    in_price, _, thinking_price = QWEN_PLUS_TIERS[0]
    expected = cost_cny(in_price, thinking_price, input_tokens=2000, output_tokens=3000)
    assert round(expected, 2) == 0.03  # (2,000 x 0.0008 + 3,000 x 0.008) / 1K
    assert_cost(record, expected)
    assert tokens(record) == (2000, 3000, 0, 2500)


def test_duration_covers_the_providers_delay(monitor: DashScopeMonitor) -> None:
    started = time.perf_counter()
    Generation.call("qwen-turbo", prompt="[[fake delay_ms=60]]")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert 60 <= monitor.record()["duration_ms"] <= elapsed_ms


def test_a_returned_429_is_a_failed_record_and_the_response_is_untouched(monitor: DashScopeMonitor) -> None:
    response = Generation.call("qwen-plus", prompt="[[fake error=429]]")
    assert (response.status_code, response.code, response.usage) == (429, "Throttling.RateQuota", None)
    assert response.message
    record = monitor.record()
    assert values(record, "success", "error_type", "error_msg", "model") == (
        False,
        "Throttling.RateQuota",
        response.message,
        "qwen-plus",
    )
    assert values(record, "input_tokens", "output_tokens", "cost", "priced") == (None, None, 0.0, False)
    assert monitor.span_attributes()["error.type"] == "Throttling.RateQuota"
    assert monitor.sdk_requests() == [GENERATION_PATH]  # called exactly once, never retried by us


def test_the_usage_context_is_recorded(monitor: DashScopeMonitor) -> None:
    with usage_context(
        user_id="user_001", anchor_id="anchor_123", session_id="session_456", function="实时分析"
    ):
        Generation.call("qwen-plus", prompt="hello")
    record = monitor.record()
    assert values(record, "user_id", "anchor_id", "session_id", "function") == (
        "user_001",
        "anchor_123",
        "session_456",
        "实时分析",
    )


def test_the_span_carries_the_genai_attributes(monitor: DashScopeMonitor) -> None:
    with usage_context(user_id="u1", anchor_id="a1", session_id="s1", function="话术生成"):
        Generation.call(
            "qwen-plus", prompt="[[fake prompt_tokens=1000 completion_tokens=100 cached_tokens=400]]"
        )
    record = monitor.record()
    assert_cost(record, cost_cny(0.0008, 0.002, input_tokens=1000, output_tokens=100, cached_tokens=400))
    span = monitor.spans()[0]
    assert (span.name, span.kind.name) == ("chat qwen-plus", "CLIENT")
    assert format(span.context.trace_id, "032x") == record["trace_id"]
    assert monitor.span_attributes() == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "dashscope",
        "gen_ai.request.model": "qwen-plus",
        "gen_ai.request.stream": False,
        "server.address": "127.0.0.1",
        "server.port": monitor.fake.port,
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
        "gen_ai.usage.cache_read.input_tokens": 400,
        "gen_ai.response.id": record["request_id"],
        "gen_ai.response.finish_reasons": ("stop",),
        "ai_usage.cost": record["cost"],
        "ai_usage.currency": "CNY",
        "ai_usage.function": "话术生成",
        "ai_usage.user_id": "u1",
        "ai_usage.anchor_id": "a1",
        "ai_usage.session_id": "s1",
    }


@pytest.mark.usefixtures("aio_session")
async def test_aio_generation(monitor: DashScopeMonitor) -> None:
    prompt = "[[fake prompt_tokens=5000 completion_tokens=1000]]"
    with usage_context(function="异步"):
        response = await AioGeneration.call(model="qwen-max", prompt=prompt, result_format="message")
    assert response.status_code == HTTPStatus.OK
    record = monitor.record()
    expected = cost_cny(0.0024, 0.0096, input_tokens=5000, output_tokens=1000)
    assert round(expected, 2) == 0.02  # (5,000 x 0.0024 + 1,000 x 0.0096) / 1K
    assert_cost(record, expected)
    assert values(record, "model", "function", "success") == ("qwen-max", "异步", True)
    assert tokens(record) == (5000, 1000, 0, 0)
    assert monitor.sdk_requests() == [GENERATION_PATH]


@pytest.mark.usefixtures("aio_session")
async def test_aio_generation_returned_error(monitor: DashScopeMonitor) -> None:
    response = await AioGeneration.call("qwen-plus", prompt="[[fake error=500]]")
    assert response.status_code == 500
    record = monitor.record()
    assert values(record, "success", "error_type", "error_msg") == (False, "InternalError", response.message)
    assert monitor.sdk_requests() == [GENERATION_PATH]


def vision_messages(directive: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"image": "http://127.0.0.1/cat.png"}, {"text": directive}]}]


def test_multimodal_conversation(monitor: DashScopeMonitor) -> None:
    messages = vision_messages("[[fake prompt_tokens=3000 completion_tokens=500]]")
    response = MultiModalConversation.call(model="qwen-vl-max", messages=messages)
    assert response.status_code == HTTPStatus.OK
    record = monitor.record()
    expected = cost_cny(0.0016, 0.004, input_tokens=3000, output_tokens=500)
    assert round(expected, 2) == 0.01  # (3,000 x 0.0016 + 500 x 0.004) / 1K
    assert_cost(record, expected)
    assert values(record, "model", "operation") == ("qwen-vl-max", "chat")
    assert tokens(record) == (3000, 500, 0, 0)
    assert monitor.sdk_requests() == [MULTIMODAL_PATH]


@pytest.mark.usefixtures("aio_session")
async def test_aio_multimodal_conversation(monitor: DashScopeMonitor) -> None:
    messages = vision_messages("[[fake prompt_tokens=12000 completion_tokens=2000]]")
    response = await AioMultiModalConversation.call("qwen-vl-plus", messages)  # positional
    assert response.status_code == HTTPStatus.OK
    record = monitor.record()
    expected = cost_cny(0.0008, 0.002, input_tokens=12000, output_tokens=2000)
    assert round(expected, 2) == 0.01  # (12,000 x 0.0008 + 2,000 x 0.002) / 1K
    assert_cost(record, expected)
    assert (record["model"], tokens(record)) == ("qwen-vl-plus", (12000, 2000, 0, 0))
    assert monitor.sdk_requests() == [MULTIMODAL_PATH]


@pytest.fixture
def embedding_price() -> Iterator[None]:
    # A price registered the documented way (here the catalogue's own figure) wins over the catalogue.
    register_price(
        "text-embedding-v4", input=0.0005, output=0.0, currency="CNY", unit="1K", provider="dashscope"
    )
    yield
    clear_registered_prices()


@pytest.mark.usefixtures("embedding_price")
def test_text_embedding(monitor: DashScopeMonitor) -> None:
    response = TextEmbedding.call("text-embedding-v4", ["一", "[[fake prompt_tokens=40000]]"])
    assert len(response.output["embeddings"]) == 2
    record = monitor.record()
    assert values(record, "model", "operation", "stream") == ("text-embedding-v4", "embeddings", False)
    assert values(record, "input_tokens", "output_tokens", "total_tokens") == (40000, 0, 40000)
    assert_cost(record, 40_000 * 0.0005 / 1000)
    assert monitor.span_attributes()["gen_ai.operation.name"] == "embeddings"
    assert monitor.sdk_requests() == ["/api/v1/services/embeddings/text-embedding/text-embedding"]


def test_application_records_its_models_usage(monitor: DashScopeMonitor) -> None:
    with usage_context(anchor_id="anchor_9"):
        response = Application.call("app-42", prompt="[[fake prompt_tokens=8000 completion_tokens=600]]")
    assert response.status_code == HTTPStatus.OK
    record = monitor.record()
    expected = cost_cny(0.0008, 0.002, input_tokens=8000, output_tokens=600)
    assert round(expected, 2) == 0.01  # (8,000 x 0.0008 + 600 x 0.002) / 1K
    assert_cost(record, expected)
    assert values(record, "model", "operation", "anchor_id", "request_model") == (
        "qwen-plus",
        "invoke_agent",
        "anchor_9",
        None,
    )
    assert tokens(record) == (8000, 600, 0, 0)
    assert monitor.spans()[0].name == "invoke_agent app-42"
    attributes = monitor.span_attributes()
    assert (attributes["gen_ai.agent.id"], attributes["gen_ai.response.model"]) == ("app-42", "qwen-plus")
    assert monitor.sdk_requests() == [APP_PATH]


def test_application_returned_error(monitor: DashScopeMonitor) -> None:
    response = Application.call(app_id="app-42", prompt="[[fake error=400]]")
    assert response.status_code == 400
    record = monitor.record()
    assert values(record, "success", "error_type", "operation") == (False, "InvalidParameter", "invoke_agent")
    assert monitor.sdk_requests() == [APP_PATH]


def test_an_sdk_exception_propagates_unchanged_with_one_failed_record(monitor: DashScopeMonitor) -> None:
    with pytest.raises(InputRequired, match="prompt or messages is required"):
        Generation.call("qwen-plus")
    record = monitor.record()
    assert values(record, "success", "error_type", "model") == (False, "InputRequired", "qwen-plus")
    assert monitor.sdk_requests() == []
