"""``WorstCaseRates`` (the guard's cached per-token rates) reserves what ``worst_case`` computes, across
models, price tiers, thinking and output caps, and reuses the rates only within one tier."""

from __future__ import annotations

import pytest

from ai_usage_monitor.budgets.worst_case import WorstCaseRates, worst_case
from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import get_pricer

CASES = [
    ("dashscope", "qwen-plus", "短", {"max_tokens": 200}),
    ("dashscope", "qwen-plus", "短" * 50_000, {"max_tokens": 200}),  # 150 KB: past the 128K tier
    ("dashscope", "qwen-plus", "x" * 300_000, {}),  # the last tier, the model's output cap
    ("dashscope", "qwen-plus", "思考", {"thinking": True, "thinking_budget": 500, "max_tokens": 100}),
    ("dashscope", "qwen-plus", "思考", {"thinking": True}),
    ("openai", "gpt-4o-mini", "hello", {"max_tokens": 50}),
    ("dashscope", "not-a-priced-model", "hello", {"max_tokens": 50}),
]


def test_the_cached_rates_reserve_what_worst_case_computes() -> None:
    pricer = get_pricer(Settings())
    rates = WorstCaseRates(pricer)
    for _ in range(2):  # the second pass is served from the cached rates
        for provider, model, text, options in CASES:
            messages = [{"role": "user", "content": text}]
            expected = worst_case(pricer, provider=provider, model=model, messages=messages, **options).cost
            got = rates.cost(provider=provider, model=model, messages=messages, **options)
            assert got == pytest.approx(expected, rel=1e-8)
            assert got >= expected
    tiers = {
        worst_case(pricer, provider="dashscope", model="qwen-plus", messages=[text]).tier
        for _, model, text, _ in CASES[:3]
    }
    assert len(tiers) == 3  # the cases did cross the tiers
