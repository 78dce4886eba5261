"""Unit tests of the OpenAI extractors' pure functions, on SDK model objects built directly (no HTTP)."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseTextDeltaEvent,
)

from ai_usage_monitor.instrumentation.core import CallInfo, StreamState
from ai_usage_monitor.instrumentation.openai.extractors import (
    caller_include_usage,
    chat_completion_usage,
    chat_usage,
    embeddings_usage,
    endpoint_of,
    failure_of,
    observe_chat_chunk,
    observe_response_event,
    provider_for,
    raw_response_requested,
    response_failure,
    response_usage,
)


def _chat_usage_dict(details: bool = True) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": 100}
        usage["completion_tokens_details"] = {"reasoning_tokens": 20}
    return usage


def _completion(usage: dict[str, Any] | None) -> ChatCompletion:
    return ChatCompletion.construct(
        id="chatcmpl-1",
        object="chat.completion",
        model="gpt-4o-mini-2024-07-18",
        choices=[
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "a"}},
            {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "b"}},
        ],
        usage=usage,
    )


def _call(hide: bool = False) -> CallInfo:
    return CallInfo(
        provider="openai",
        operation="chat",
        request_model="gpt-4o-mini",
        source="openai",
        stream=True,
        hide_usage_chunk=hide,
    )


@pytest.mark.parametrize(
    ("host", "path", "provider"),
    [
        ("dashscope.aliyuncs.com", "/compatible-mode/v1", "dashscope"),
        ("DashScope-Intl.aliyuncs.com", "/compatible-mode/v1", "dashscope-intl"),
        ("ws-abc.cn-beijing.maas.aliyuncs.com", "/compatible-mode/v1", "dashscope"),
        ("127.0.0.1", "/compatible-mode/v1/", "dashscope"),
        ("my-resource.openai.azure.com", "/openai/deployments/x", "azure.ai.openai"),
        ("api.openai.com", "/v1", "openai"),
        ("API.DeepSeek.com.", "/v1", "deepseek"),
        ("api.moonshot.cn", "/v1", "moonshot"),
        ("open.bigmodel.cn", "/api/paas/v4", "zhipu"),
        ("ark.cn-beijing.volces.com", "/api/v3", "volcengine"),
        ("qianfan.baidubce.com", "/v2", "qianfan"),
        ("api.hunyuan.cloud.tencent.com", "/v1", "hunyuan"),
        ("api.minimax.chat", "/v1", "minimax"),
        ("api.minimaxi.com", "/v1", "minimax"),
        ("api.siliconflow.cn", "/v1", "siliconflow"),
        # an unknown host is its own provider, never OpenAI by accident
        ("127.0.0.1", "/v1", "127.0.0.1"),
        ("aliyuncs.com.evil.example", "/v1", "aliyuncs.com.evil.example"),
        ("api.deepseek.com.evil.example", "/v1", "api.deepseek.com.evil.example"),
        ("", "", "openai"),
    ],
)
def test_provider_for(host: str, path: str, provider: str) -> None:
    assert provider_for(host, path) == provider


def test_provider_for_with_the_providers_setting() -> None:
    hosts = {"llm.corp.example": "deepseek", "127.0.0.1": "openai", "api.deepseek.com": "mine"}
    assert provider_for("LLM.corp.example", "/v1", hosts) == "deepseek"
    assert provider_for("127.0.0.1", "/v1", hosts) == "openai"
    assert provider_for("127.0.0.1", "/compatible-mode/v1", hosts) == "dashscope", "the path still decides"
    assert provider_for("api.deepseek.com", "/v1", hosts) == "deepseek", "a known host keeps its provider"
    assert provider_for("vllm.corp.example", "/v1", hosts) == "vllm.corp.example"


def test_endpoint_of_real_clients() -> None:
    compatible = openai.OpenAI(api_key="k", base_url="https://dashscope.aliyuncs.com/compatible-mode/v1")
    assert endpoint_of(compatible) == endpoint_of(compatible)
    point = endpoint_of(compatible)
    assert (point.provider, point.address, point.port) == ("dashscope", "dashscope.aliyuncs.com", 443)

    local = openai.OpenAI(api_key="k", base_url="http://127.0.0.1:8123/v1")
    point = endpoint_of(local)
    assert (point.provider, point.address, point.port) == ("127.0.0.1", "127.0.0.1", 8123)
    assert endpoint_of(local, {"127.0.0.1": "openai"}).provider == "openai"

    azure = openai.AzureOpenAI(
        api_key="k", api_version="2024-10-21", azure_endpoint="https://corp.example.net"
    )
    assert endpoint_of(azure).provider == "azure.ai.openai"

    assert endpoint_of(None).provider == "openai"
    assert isinstance(compatible.base_url, httpx2.URL)  # the SDK generation these tests ran against


def test_chat_usage_full_and_details_missing() -> None:
    full = chat_completion_usage(_completion(_chat_usage_dict()))
    assert (full.input_tokens, full.output_tokens, full.total_tokens) == (120, 30, 150)
    assert (full.cached_tokens, full.reasoning_tokens) == (100, 20)
    assert full.response_model == "gpt-4o-mini-2024-07-18"
    assert full.request_id == "chatcmpl-1"
    assert full.finish_reasons == ("stop", "length")

    bare = chat_completion_usage(_completion(_chat_usage_dict(details=False)))
    assert (bare.input_tokens, bare.cached_tokens, bare.reasoning_tokens) == (120, None, None)

    none_details = _chat_usage_dict(details=False) | {
        "prompt_tokens_details": {"cached_tokens": None},
        "completion_tokens_details": None,
    }
    assert chat_usage(_completion(none_details).usage).cached_tokens is None


def test_chat_usage_absent_and_json_dict() -> None:
    missing = chat_completion_usage(_completion(None))
    assert missing.input_tokens is None and missing.output_tokens is None
    assert missing.response_model == "gpt-4o-mini-2024-07-18"

    as_json = chat_completion_usage(
        {"id": "x", "model": "qwen-plus", "usage": _chat_usage_dict(), "choices": []}
    )
    assert (as_json.input_tokens, as_json.cached_tokens, as_json.response_model) == (120, 100, "qwen-plus")


def test_request_id_falls_back_to_http_request_id() -> None:
    completion = ChatCompletion.construct(model="m", choices=[], usage=None)
    completion._request_id = "req_123"
    assert chat_completion_usage(completion).request_id == "req_123"


def test_embeddings_usage() -> None:
    response = CreateEmbeddingResponse.construct(
        data=[], model="text-embedding-3-small", object="list", usage={"prompt_tokens": 8, "total_tokens": 8}
    )
    usage = embeddings_usage(response)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (8, 0, 8)
    assert usage.response_model == "text-embedding-3-small"
    assert embeddings_usage(CreateEmbeddingResponse.construct(data=[], model="m")).output_tokens is None


def _response(status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4o-mini-2024-07-18",
        "status": status,
        "usage": {
            "input_tokens": 50,
            "output_tokens": 40,
            "total_tokens": 90,
            "input_tokens_details": {"cached_tokens": 10},
            "output_tokens_details": {"reasoning_tokens": 15},
        },
        **extra,
    }


def test_response_usage_and_failure() -> None:
    usage = response_usage(Response.construct(**_response()))
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.reasoning_tokens) == (
        50,
        40,
        10,
        15,
    )
    assert (usage.response_model, usage.request_id, usage.finish_reasons) == (
        "gpt-4o-mini-2024-07-18",
        "resp_1",
        ("completed",),
    )
    incomplete = Response.construct(
        **_response("incomplete", incomplete_details={"reason": "max_output_tokens"})
    )
    assert response_usage(incomplete).finish_reasons == ("max_output_tokens",)
    assert response_failure(incomplete) is None

    failed = Response.construct(**_response("failed", error={"code": "server_error", "message": "boom"}))
    failure = response_failure(failed)
    assert failure is not None and (failure.error_type, failure.message) == ("server_error", "boom")


def _chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.construct(
        id="chatcmpl-9",
        object="chat.completion.chunk",
        model="gpt-4o-mini-2024-07-18",
        choices=choices,
        usage=usage,
    )


def test_observe_chat_chunks_hides_only_the_added_usage_chunk() -> None:
    delta = _chunk([{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}])
    last = _chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    usage_only = _chunk([], _chat_usage_dict())
    for hide in (True, False):
        state = StreamState()
        call = _call(hide)
        assert observe_chat_chunk(call, state, delta) is False
        assert observe_chat_chunk(call, state, last) is False
        assert observe_chat_chunk(call, state, usage_only) is hide
        assert (state.usage.input_tokens, state.usage.output_tokens, state.usage.cached_tokens) == (
            120,
            30,
            100,
        )
        assert state.usage.finish_reasons == ("stop",)
        assert (state.usage.response_model, state.usage.request_id) == (
            "gpt-4o-mini-2024-07-18",
            "chatcmpl-9",
        )


def test_observe_chat_chunk_with_usage_and_choices_is_never_hidden() -> None:
    state = StreamState()
    both = _chunk([{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}], _chat_usage_dict())
    assert observe_chat_chunk(_call(hide=True), state, both) is False
    assert state.usage.input_tokens == 120


def test_observe_response_events() -> None:
    state = StreamState()
    created = ResponseCreatedEvent.construct(
        type="response.created", sequence_number=0, response=_response("in_progress") | {"usage": None}
    )
    observe_response_event(state, created)
    assert state.usage.response_model == "gpt-4o-mini-2024-07-18" and state.usage.input_tokens is None
    delta = ResponseTextDeltaEvent.construct(type="response.output_text.delta", sequence_number=1, delta="hi")
    observe_response_event(state, delta)
    completed = ResponseCompletedEvent.construct(
        type="response.completed", sequence_number=2, response=_response()
    )
    observe_response_event(state, completed)
    assert (state.usage.input_tokens, state.usage.output_tokens, state.usage.reasoning_tokens) == (50, 40, 15)
    assert state.usage.finish_reasons == ("completed",) and state.failure is None

    failed_state = StreamState()
    failed = ResponseFailedEvent.construct(
        type="response.failed",
        sequence_number=3,
        response=_response("failed", error={"code": "x", "message": "y"}),
    )
    observe_response_event(failed_state, failed)
    assert failed_state.failure is not None and failed_state.failure.error_type == "x"

    error_state = StreamState()
    observe_response_event(
        error_state,
        ResponseErrorEvent.construct(type="error", sequence_number=1, code="rate_limit", message="slow"),
    )
    assert error_state.failure is not None and error_state.failure.message == "slow"


def test_stream_option_helpers() -> None:
    omit = openai.omit
    assert caller_include_usage({"stream_options": omit}) is None
    assert caller_include_usage({"stream_options": None}) is None
    assert caller_include_usage({"stream_options": {"include_obfuscation": False}}) is None
    assert caller_include_usage({"stream_options": {"include_usage": True}}) is True
    assert caller_include_usage({"stream_options": {"include_usage": False}}) is False
    assert caller_include_usage({"extra_body": {"stream_options": {"include_usage": True}}}) is True
    assert raw_response_requested({"extra_headers": {"X-Stainless-Raw-Response": "true"}}) is True
    assert raw_response_requested({"extra_headers": {"X-Other": "1"}}) is False
    assert raw_response_requested({"extra_headers": None}) is False


def test_failure_of_keeps_class_name_and_message() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    exc = openai.RateLimitError(
        "slow down", response=httpx2.Response(429, request=request), body={"error": {"message": "slow down"}}
    )
    failure = failure_of(exc)
    assert failure.error_type == "RateLimitError"
    assert failure.message == str(exc) and "slow down" in failure.message
    assert failure_of(ValueError()).message == "ValueError"
