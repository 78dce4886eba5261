"""The Anthropic readers as pure functions, on SDK objects and on JSON dicts: the token convention, stream
events folded in order, failures, the client's provider, and the reader ``track_ai_usage`` can use."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from ai_usage_monitor.instrumentation.anthropic.extractors import _endpoint, failure_of, provider_of
from ai_usage_monitor.instrumentation.anthropic.readers import (
    anthropic_response_usage,
    message_usage,
    observe_message_event,
    usage_of,
)
from ai_usage_monitor.instrumentation.core import StreamState

MESSAGE: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "你好"}],
    "stop_reason": "max_tokens",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 21,
        "cache_read_input_tokens": 1800,
        "cache_creation_input_tokens": 300,
        "output_tokens": 64,
        "output_tokens_details": {"thinking_tokens": 40},
    },
}


@pytest.mark.parametrize("form", ["dict", "sdk"])
def test_a_message_reads_as_all_input_with_its_cache_parts(form: str) -> None:
    message = MESSAGE if form == "dict" else Message.model_validate(MESSAGE)
    usage = message_usage(message)
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens) == (2121, 1800, 300)
    assert (usage.output_tokens, usage.reasoning_tokens) == (64, 40)
    assert (usage.response_model, usage.request_id, usage.finish_reasons) == (
        "claude-sonnet-4-5-20250929",
        "msg_01",
        ("max_tokens",),
    )


def test_usage_without_cache_counts_has_zero_cache_and_missing_usage_stays_unknown() -> None:
    plain = usage_of({"input_tokens": 10, "output_tokens": 3})
    assert (plain.input_tokens, plain.cached_tokens, plain.cache_write_tokens) == (10, 0, 0)
    missing = usage_of(None)
    assert (missing.input_tokens, missing.output_tokens, missing.cached_tokens) == (None, None, None)


def _parse_event(data: dict[str, Any]) -> Any:
    """A stream event as the SDK parses it."""
    return TypeAdapter(RawMessageStreamEvent).validate_python(data)


START = {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}}


def test_message_delta_counts_are_cumulative_and_replace_the_starts() -> None:
    start_usage = {"input_tokens": 21, "cache_read_input_tokens": 1800, "output_tokens": 1}
    state = StreamState()
    first = {**START, "message": {**START["message"], "usage": start_usage}}
    observe_message_event(state, _parse_event(first))
    usage = state.usage
    assert (usage.input_tokens, usage.output_tokens) == (1821, 1)
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 30}}
    observe_message_event(state, _parse_event(delta))
    observe_message_event(state, _parse_event({**delta, "usage": {"output_tokens": 64}}))
    # a delta without input counts keeps the start's; output is the latest cumulative count
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (1821, 1800, 64)
    assert usage.finish_reasons == ("end_turn",)
    full = {"input_tokens": 21, "cache_read_input_tokens": 1800, "cache_creation_input_tokens": 5}
    observe_message_event(state, _parse_event({**delta, "usage": {**full, "output_tokens": 70}}))
    assert (usage.input_tokens, usage.cache_write_tokens, usage.output_tokens) == (1826, 5, 70)


def test_other_events_change_nothing() -> None:
    state = StreamState()
    for data in (
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    ):
        observe_message_event(state, _parse_event(data))
    assert state.usage.input_tokens is None and state.usage.output_tokens is None


def _status_error(cls: type[anthropic.APIStatusError], status: int, body: Any) -> anthropic.APIStatusError:
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    return cls("boom", response=httpx2.Response(status, request=request), body=body)


def test_failures_name_the_class_or_for_a_bare_status_error_anthropics_error_type() -> None:
    limited = failure_of(_status_error(anthropic.RateLimitError, 429, None))
    assert (limited.error_type, limited.message) == ("RateLimitError", "boom")
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert failure_of(_status_error(anthropic.APIStatusError, 200, body)).error_type == "overloaded_error"
    assert failure_of(_status_error(anthropic.APIStatusError, 200, "not json")).error_type == "APIStatusError"


def test_the_provider_is_anthropic_unless_the_client_serves_claude_from_another_cloud() -> None:
    assert provider_of(anthropic.Anthropic(api_key="k")) == "anthropic"
    bedrock = type("AnthropicBedrock", (), {})()
    vertex = type("AsyncAnthropicVertex", (), {})()
    assert (provider_of(bedrock), provider_of(vertex)) == ("aws.bedrock", "gcp.vertex_ai")


@pytest.mark.parametrize(
    ("base_url", "provider"),
    [
        ("https://api.anthropic.com", "anthropic"),
        ("https://api.deepseek.com/anthropic", "deepseek"),
        ("https://api.moonshot.cn/anthropic", "moonshot"),
        ("https://open.bigmodel.cn/api/anthropic", "zhipu"),
        ("https://dashscope.aliyuncs.com/apps/anthropic", "dashscope"),
        ("https://llm-gateway.corp.example", "anthropic"),
    ],
)
def test_anthropic_compatible_endpoints_are_named_by_their_host(base_url: str, provider: str) -> None:
    """DeepSeek, Kimi, GLM and Qwen also speak Anthropic's API: their calls must not be priced as Claude."""
    client = anthropic.Anthropic(api_key="k", base_url=base_url)
    assert _endpoint(client).provider == provider


def test_the_decorators_reader_takes_anthropic_messages_and_leaves_other_responses() -> None:
    usage = anthropic_response_usage(Message.model_validate(MESSAGE))
    assert usage is not None and (usage.input_tokens, usage.cache_write_tokens) == (2121, 300)
    as_json = anthropic_response_usage(MESSAGE)
    assert as_json is not None and as_json.cached_tokens == 1800
    # the OpenAI Responses API and DashScope also say usage.input_tokens, with the cache already in it
    responses_api = {"object": "response", "usage": {"input_tokens": 50, "output_tokens": 5}}
    assert anthropic_response_usage(responses_api) is None
    assert anthropic_response_usage({"choices": [], "usage": {"prompt_tokens": 3}}) is None
    assert anthropic_response_usage("text") is None


def test_the_readers_load_without_the_anthropic_sdk() -> None:
    """``track_ai_usage`` imports them in apps that never installed ``anthropic``."""
    code = """
import sys

class NoAnthropic:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "anthropic":
            raise ImportError("anthropic is not installed")

sys.meta_path.insert(0, NoAnthropic())
from ai_usage_monitor.instrumentation.anthropic.readers import anthropic_response_usage
usage = {"input_tokens": 1, "cache_read_input_tokens": 2, "output_tokens": 3}
assert anthropic_response_usage({"type": "message", "usage": usage}).input_tokens == 3
assert "anthropic" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
