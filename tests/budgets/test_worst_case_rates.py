"""``WorstCaseRates`` (the guard's cached per-token rates) reserves what ``worst_case`` computes, across
models, price tiers, thinking and output caps, and reuses the rates only within one tier."""

from __future__ import annotations

import time

import pytest

from ai_usage_monitor.budgets.request_bounds import request_bounds
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


TEXT = "分析这段直播间弹幕的情绪 hello"
#: request shapes the SDKs accept: the one-pass path's (a list of dicts of strings, an output cap) and the
#: others it hands to ``request_bounds`` (positional prompts, tools, nested parameters, thinking, parts)
SHAPES: list[tuple[tuple[object, ...], dict[str, object], bool]] = [
    ((), {"model": "m", "messages": [{"role": "user", "content": TEXT}]}, False),
    ((), {"messages": [{"role": "system", "content": ""}, {"role": "user", "content": TEXT}]}, False),
    ((), {"messages": [{"role": "user", "content": TEXT, "name": "主播"}], "max_tokens": 300}, False),
    (
        (),
        {"messages": [{"role": "user", "content": TEXT}], "max_tokens": 0, "max_completion_tokens": 70},
        False,
    ),
    (
        (),
        {"messages": [{"role": "user", "content": TEXT}], "max_completion_tokens": 70, "max_tokens": 900},
        False,
    ),
    ((), {"messages": [{"role": "user", "content": TEXT}], "max_tokens": True}, False),
    ((), {"messages": [{"role": "user", "content": TEXT}], "max_tokens": -5}, False),
    ((), {"messages": [{"role": "user", "content": TEXT}], "max_tokens": 400}, True),
    (
        (),
        {"messages": [{"role": "user", "content": [{"type": "text", "text": TEXT}, {"image": "x.png"}]}]},
        False,
    ),
    ((), {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}]}, False),
    ((), {"messages": ({"role": "user", "content": TEXT},), "max_tokens": 10}, False),
    ((), {"messages": [TEXT, {"role": "user", "content": TEXT}]}, False),
    ((), {"prompt": TEXT, "max_tokens": 20}, False),
    (("qwen-plus", TEXT), {"max_tokens": 20}, False),
    ((), {"messages": [{"role": "user", "content": TEXT}], "tools": [{"type": "function"}]}, False),
    ((), {"messages": [{"role": "user", "content": TEXT}], "parameters": {"max_tokens": 33}}, False),
    (
        (),
        {"messages": [{"role": "user", "content": TEXT}], "enable_thinking": True, "thinking_budget": 99},
        False,
    ),
    ((), {"input": [{"role": "user", "content": TEXT}], "max_output_tokens": 64}, False),
    ((), {"messages": [{"role": "user", "content": "长" * 60_000}], "max_tokens": 100}, False),  # tier 1
]


@pytest.mark.parametrize(("args", "kwargs", "thinking"), SHAPES)
@pytest.mark.parametrize(("provider", "model"), [("dashscope", "qwen-plus"), ("openai", "gpt-4o-mini")])
def test_the_one_pass_reading_of_a_call_prices_what_request_bounds_does(
    args: tuple[object, ...], kwargs: dict[str, object], thinking: bool, provider: str, model: str
) -> None:
    rates = WorstCaseRates(get_pricer(Settings()))
    now = time.time()
    expected = rates.bound(provider, model, request_bounds(args, kwargs, thinking=thinking), now)
    assert expected > 0
    assert rates.call_cost(provider, model, args, kwargs, thinking, now) == expected
