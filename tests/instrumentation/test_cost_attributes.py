"""The proposed ``gen_ai.usage.cost.*`` span attributes (semantic-conventions-genai PR #443): beside
``ai_usage.cost`` on calls of all three SDKs when ``otel_cost_attributes`` is on, absent when it is off
(the default) and on unpriced calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from dashscope import Generation

import ai_usage_monitor.instrumentation as inst
from tests.instrumentation.anthropic_support import message_params, only_span, spans_in_memory
from tests.instrumentation.dashscope_support import reset_monitor
from tests.instrumentation.openai_support import chat_messages, directive
from tests.support.records import read_records

COST_ATTRIBUTES = ("gen_ai.usage.cost.amount", "gen_ai.usage.cost.currency", "gen_ai.usage.cost.source")
TEXT = directive(prompt_tokens=1200, completion_tokens=80)


def _openai(fake: Any, model: str) -> None:
    with openai.OpenAI(api_key="k", base_url=fake.openai_base_url, max_retries=0) as client:
        client.chat.completions.create(model=model, messages=chat_messages(TEXT))


def _dashscope(fake: Any, model: str) -> None:
    Generation.call(model, prompt=TEXT)


def _anthropic(fake: Any, model: str) -> None:
    with anthropic.Anthropic(api_key="k", base_url=fake.anthropic_base_url, max_retries=0) as client:
        client.messages.create(**{**message_params(TEXT), "model": model})


#: (SDK, a priced model, its call)
SDKS: list[tuple[str, str, Callable[[Any, str], None]]] = [
    ("openai", "gpt-4o-mini", _openai),
    ("dashscope", "qwen-plus", _dashscope),
    ("anthropic", "claude-haiku-4-5", _anthropic),
]


@pytest.fixture
def monitored(dashscope_fake: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``instrument(**settings)`` into ``tmp_path``, undone after the test."""

    def start(**settings: Any) -> Any:
        return inst.instrument(records_dir=tmp_path, raise_internal_errors=True, **settings)

    yield start
    reset_monitor()


@pytest.mark.parametrize("case", SDKS, ids=[sdk for sdk, _, _ in SDKS])
def test_cost_attributes_sit_beside_ai_usage_cost_when_turned_on(
    monitored: Callable[..., Any], dashscope_fake: Any, tmp_path: Path, case: Any
) -> None:
    sdk, model, call = case
    monitored(otel_cost_attributes=True)
    with spans_in_memory() as exporter:
        call(dashscope_fake, model)
    attributes = dict(only_span(exporter).attributes or {})
    (record,) = read_records(tmp_path)
    assert record["priced"] is True and record["cost"] > 0 and record["provider"] == sdk
    assert attributes["gen_ai.usage.cost.amount"] == attributes["ai_usage.cost"] == record["cost"]
    assert attributes["gen_ai.usage.cost.currency"] == attributes["ai_usage.currency"] == "CNY"
    assert attributes["gen_ai.usage.cost.source"] == "local"


@pytest.mark.parametrize("case", SDKS, ids=[sdk for sdk, _, _ in SDKS])
def test_cost_attributes_are_off_by_default(
    monitored: Callable[..., Any], dashscope_fake: Any, case: Any
) -> None:
    _, model, call = case
    settings = monitored()
    assert settings.otel_cost_attributes is False
    with spans_in_memory() as exporter:
        call(dashscope_fake, model)
    attributes = dict(only_span(exporter).attributes or {})
    assert attributes["ai_usage.cost"] > 0
    assert not set(COST_ATTRIBUTES) & set(attributes)


def test_the_setting_is_read_from_the_environment(
    monitored: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_USAGE_OTEL_COST_ATTRIBUTES", "true")
    assert monitored().otel_cost_attributes is True


def test_an_unpriced_call_gets_no_cost_attributes(monitored: Callable[..., Any], dashscope_fake: Any) -> None:
    monitored(otel_cost_attributes=True)
    with spans_in_memory() as exporter:
        _anthropic(dashscope_fake, "claude-model-nobody-prices")
    attributes = dict(only_span(exporter).attributes or {})
    assert attributes["ai_usage.cost"] == 0
    assert not set(COST_ATTRIBUTES) & set(attributes)
