"""The worst-case reservation: token bounds from the request, the bound's tier, thinking, output caps."""

from __future__ import annotations

import math

import pytest

from ai_usage_monitor.budgets.worst_case import (
    DEFAULT_OUTPUT_CAP,
    IMAGE_TOKEN_BOUND,
    OUTPUT_CAPS,
    input_token_bound,
    output_cap,
    worst_case,
)
from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing.pricer import Pricer


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer(Settings(currency="CNY"))


def test_text_is_bounded_by_its_utf8_bytes_and_images_by_the_stated_bound() -> None:
    chinese = "请分析这段直播的弹幕情绪" * 10
    one = input_token_bound([{"role": "user", "content": chinese}])
    assert one >= len(chinese.encode("utf-8"))  # no byte-level BPE token is shorter than one byte
    parts = [{"type": "text", "text": chinese}, {"type": "image_url", "image_url": {"url": "data:..."}}]
    with_image = input_token_bound([{"role": "user", "content": parts}])
    assert with_image - one >= IMAGE_TOKEN_BOUND
    dashscope_shape = [{"role": "user", "content": [{"text": chinese}, {"image": "https://x/1.png"}]}]
    assert input_token_bound(dashscope_shape) == with_image
    two_messages = input_token_bound(
        [{"role": "system", "content": ""}, {"role": "user", "content": chinese}]
    )
    assert two_messages > one  # every message costs template tokens, even an empty one
    tools = [{"type": "function", "function": {"name": "实时分析", "parameters": {}}}]
    assert input_token_bound([{"role": "user", "content": chinese}], extra=tools) > one


def test_the_tier_of_the_bound_prices_the_reservation(pricer: Pricer) -> None:
    entry = pricer.price_entry(provider="dashscope", model="qwen-plus")
    assert entry is not None and len(entry.tiers) > 1
    first_limit = entry.tiers[0].max_input_tokens
    assert first_limit is not None
    long_prompt = "a" * (first_limit + 1)  # fits tier 0 in real tokens, not in the bound
    case = worst_case(
        pricer,
        provider="dashscope",
        model="qwen-plus",
        messages=[{"role": "user", "content": long_prompt}],
        max_tokens=1000,
    )
    tier = entry.tiers[1]
    assert case.tier == 1 and case.output_tokens == 1000
    expected = (case.input_tokens * tier.input + 1000 * tier.output) / entry.unit
    assert math.isclose(case.cost, expected)
    assert case.price_ref is not None and case.price_ref.endswith("#tier1")


def test_thinking_uses_the_thinking_price_and_budget(pricer: Pricer) -> None:
    entry = pricer.price_entry(provider="dashscope", model="qwen-plus")
    assert entry is not None
    tier = entry.tiers[0]
    assert tier.thinking_output is not None and tier.thinking_output > tier.output
    messages = [{"role": "user", "content": "你好"}]
    case = worst_case(
        pricer,
        provider="dashscope",
        model="qwen-plus",
        messages=messages,
        max_tokens=500,
        thinking=True,
        thinking_budget=2000,
    )
    assert case.output_tokens == 2500
    assert math.isclose(
        case.cost, (case.input_tokens * tier.input + 2500 * tier.thinking_output) / entry.unit
    )
    uncapped = worst_case(pricer, provider="dashscope", model="qwen-plus", messages=messages, thinking=True)
    assert uncapped.output_tokens == 2 * OUTPUT_CAPS["qwen-plus"]


def test_a_dearer_cache_write_price_is_assumed(pricer: Pricer) -> None:
    entry = pricer.price_entry(provider="dashscope", model="qwen3-max")
    assert entry is not None
    tier = entry.tiers[0]
    assert tier.cache_write_price > tier.input
    case = worst_case(
        pricer,
        provider="dashscope",
        model="qwen3-max",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=10,
    )
    assert math.isclose(
        case.cost, (case.input_tokens * tier.cache_write_price + 10 * tier.output) / entry.unit
    )


def test_output_caps_and_unpriced_models(pricer: Pricer) -> None:
    assert output_cap("qwen-plus-2025-09-11") == OUTPUT_CAPS["qwen-plus"]
    assert output_cap("qwen-plus") == OUTPUT_CAPS["qwen-plus"]
    assert output_cap("qwen3-max-preview") == OUTPUT_CAPS["qwen3-max"]
    assert output_cap("my-finetune") == DEFAULT_OUTPUT_CAP
    case = worst_case(pricer, provider="dashscope", model="my-finetune", messages=["hi"])
    assert (case.cost, case.tier, case.price_ref, case.output_tokens) == (0.0, None, None, DEFAULT_OUTPUT_CAP)
