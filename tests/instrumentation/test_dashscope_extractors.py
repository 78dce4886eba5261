"""Unit tests of the DashScope extractors on SDK response objects built directly (no HTTP)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import dashscope
import pytest
from dashscope.api_entities.dashscope_response import (
    DashScopeAPIResponse,
    GenerationResponse,
    MultiModalConversationResponse,
)
from dashscope.app.application_response import ApplicationResponse

from ai_usage_monitor.instrumentation.core import CallInfo, Failure, StreamState, Usage
from ai_usage_monitor.instrumentation.dashscope.extractors import (
    DEFAULT_BASE_URL,
    ApplicationExtractor,
    EmbeddingExtractor,
    GenerationExtractor,
    application_model,
    application_usage,
    argument,
    embedding_usage,
    field,
    finish_reasons,
    generation_usage,
    merge_chunk_usage,
    response_failure,
    server_of,
    wants_thinking,
)


def generation(usage: dict[str, Any] | None, *, finish: str = "stop", request_id: str = "req-1") -> Any:
    raw = DashScopeAPIResponse(
        status_code=HTTPStatus.OK,
        request_id=request_id,
        output={"choices": [{"finish_reason": finish, "message": {"role": "assistant", "content": "hi"}}]},
        usage=usage,
    )
    return GenerationResponse.from_api_response(raw)


def failed(
    status: int, code: str = "Throttling.RateQuota", message: str = "Requests rate limit exceeded"
) -> Any:
    raw = DashScopeAPIResponse(status_code=status, request_id="req-err", code=code, message=message)
    return GenerationResponse.from_api_response(raw)


class _OldSdkDict(dict):  # type: ignore[type-arg]
    """DashScope ≤1.24 objects: attribute access is item access, so a missing one raises KeyError."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


FULL_USAGE = {
    "input_tokens": 1200,
    "output_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1000},
    "output_tokens_details": {"reasoning_tokens": 120},
}


def test_generation_usage_reads_every_token_kind_and_the_request_id() -> None:
    usage = generation_usage(generation(FULL_USAGE))
    assert usage == Usage(
        input_tokens=1200,
        output_tokens=300,
        total_tokens=1500,
        cached_tokens=1000,
        reasoning_tokens=120,
        request_id="req-1",
        finish_reasons=("stop",),
    )


def test_generation_usage_without_details_leaves_cached_and_reasoning_unknown() -> None:
    usage = generation_usage(generation({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}))
    assert usage == Usage(
        input_tokens=10, output_tokens=5, total_tokens=15, request_id="req-1", finish_reasons=("stop",)
    )


def test_generation_usage_of_a_returned_error_is_all_unknown() -> None:
    usage = generation_usage(failed(429))
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (None, None, None)
    assert usage.request_id == "req-err"


def test_a_success_without_usage_is_unknown_not_zero() -> None:
    response = generation(None)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (0, 0)  # the SDK's default
    usage = generation_usage(response)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (None, None, None)
    zero = generation_usage(generation({"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}))
    assert (zero.input_tokens, zero.output_tokens) == (0, 0)  # said by the provider: kept


def test_multimodal_usage_reads_like_generation() -> None:
    raw = DashScopeAPIResponse(
        status_code=HTTPStatus.OK,
        request_id="mm-1",
        output={
            "choices": [
                {"finish_reason": "stop", "message": {"role": "assistant", "content": [{"text": "a"}]}}
            ]
        },
        usage={"input_tokens": 900, "output_tokens": 40, "image_tokens": 850},
    )
    usage = generation_usage(MultiModalConversationResponse.from_api_response(raw))
    assert (usage.input_tokens, usage.output_tokens, usage.finish_reasons) == (900, 40, ("stop",))


def test_field_tolerates_missing_attributes_of_new_and_old_sdks() -> None:
    assert field(generation(FULL_USAGE), "no_such_thing") is None  # 2.x: AttributeError
    assert field(_OldSdkDict(a=1), "b") is None  # ≤1.24: KeyError
    old = _OldSdkDict(usage=_OldSdkDict(input_tokens=3, output_tokens=4))
    assert generation_usage(old).input_tokens == 3
    assert field(None, "x") is None


def test_booleans_and_strings_are_not_token_counts() -> None:
    usage = generation_usage(generation({"input_tokens": True, "output_tokens": "7"}))
    assert (usage.input_tokens, usage.output_tokens) == (None, None)


@pytest.mark.parametrize("status", [HTTPStatus.OK, 200, "200"])
def test_success_is_status_200_whatever_its_type(status: Any) -> None:
    assert response_failure(DashScopeAPIResponse(status_code=status)) is None


def test_a_returned_error_is_a_failure_with_its_code_and_message() -> None:
    assert response_failure(failed(429)) == Failure("Throttling.RateQuota", "Requests rate limit exceeded")
    mid_stream = DashScopeAPIResponse(
        status_code=HTTPStatus.INTERNAL_SERVER_ERROR, code="InternalError", message="x"
    )
    assert response_failure(mid_stream) == Failure("InternalError", "x")


def test_an_error_without_code_is_named_by_its_status() -> None:
    assert response_failure(DashScopeAPIResponse(status_code=503)) == Failure("HTTP 503", "HTTP 503")


def test_finish_reasons_skip_the_null_string_of_unfinished_chunks() -> None:
    assert finish_reasons(generation(FULL_USAGE, finish="null").output) == ()
    assert finish_reasons({"text": "t", "finish_reason": "length"}) == ("length",)
    assert finish_reasons(None) == ()


def test_embedding_usage_is_all_input() -> None:
    raw = DashScopeAPIResponse(
        status_code=HTTPStatus.OK, request_id="e-1", output={}, usage={"total_tokens": 7}
    )
    assert embedding_usage(raw) == Usage(input_tokens=7, output_tokens=0, total_tokens=7, request_id="e-1")
    failed_raw = DashScopeAPIResponse(status_code=400, code="InvalidParameter", message="bad")
    assert embedding_usage(failed_raw).input_tokens is None
    assert embedding_usage(failed_raw).output_tokens is None


def app_response(models: list[dict[str, Any]] | None, usage: dict[str, Any] | None = None) -> Any:
    raw = DashScopeAPIResponse(
        status_code=HTTPStatus.OK,
        request_id="app-1",
        output={"text": "done", "finish_reason": "stop", "session_id": "s"},
        usage=usage if usage is not None else {"models": models},
    )
    return ApplicationResponse.from_api_response(raw)


def test_application_usage_sums_the_models() -> None:
    response = app_response(
        [
            {"model_id": "qwen-plus", "input_tokens": 100, "output_tokens": 20},
            {"model_id": "qwen-plus", "input_tokens": 50, "output_tokens": 5},
        ]
    )
    usage = application_usage(response)
    assert (usage.input_tokens, usage.output_tokens, usage.response_model) == (150, 25, "qwen-plus")
    assert (usage.cached_tokens, usage.request_id, usage.finish_reasons) == (None, "app-1", ("stop",))


def test_an_application_running_several_models_names_them_all() -> None:
    response = app_response(
        [
            {"model_id": "qwen-max", "input_tokens": 10, "output_tokens": 1},
            {"model_id": "qwen-plus", "input_tokens": 20, "output_tokens": 2},
            {"model_id": "qwen-max", "input_tokens": 30, "output_tokens": 3},
        ]
    )
    usage = application_usage(response)
    assert (usage.input_tokens, usage.output_tokens, usage.response_model) == (60, 6, "qwen-max+qwen-plus")
    assert application_model([]) is None
    assert application_model([None, "", "qwen-turbo"]) == "qwen-turbo"


def test_an_application_with_top_level_usage_reads_it() -> None:
    usage = application_usage(app_response(None, usage={"input_tokens": 8, "output_tokens": 2}))
    assert (usage.input_tokens, usage.output_tokens, usage.response_model) == (8, 2, None)


def test_stream_usage_is_cumulative_never_summed() -> None:
    seen = Usage()
    for output_so_far in (3, 6, 9):
        chunk = generation({"input_tokens": 100, "output_tokens": output_so_far}, finish="null")
        seen = merge_chunk_usage(seen, generation_usage(chunk))
    assert (seen.input_tokens, seen.output_tokens) == (100, 9)


def test_a_chunk_without_tokens_keeps_what_was_seen() -> None:
    seen = generation_usage(generation({"input_tokens": 100, "output_tokens": 9}))
    after_error = merge_chunk_usage(seen, generation_usage(failed(500, "InternalError", "boom")))
    assert after_error == Usage(
        input_tokens=100, output_tokens=9, request_id="req-err", finish_reasons=("stop",)
    )
    empty = merge_chunk_usage(seen, generation_usage(generation(None, finish="null", request_id="")))
    assert (empty.input_tokens, empty.output_tokens, empty.request_id) == (100, 9, "req-1")


def test_server_of_a_base_url() -> None:
    assert server_of("https://dashscope.aliyuncs.com/api/v1") == ("dashscope.aliyuncs.com", 443)
    assert server_of("http://127.0.0.1:8123/api/v1") == ("127.0.0.1", 8123)
    assert server_of("http://localhost/api/v1") == ("localhost", 80)


def test_thinking_is_asked_directly_or_in_parameters() -> None:
    assert wants_thinking({"enable_thinking": True})
    assert wants_thinking({"parameters": {"enable_thinking": True}})
    assert not wants_thinking({"enable_thinking": False})
    assert not wants_thinking({"parameters": "nonsense"})


def test_argument_by_position_or_keyword() -> None:
    assert argument(("qwen-plus",), {}, "model") == "qwen-plus"
    assert argument((), {"model": "qwen-max"}, "model") == "qwen-max"
    assert argument((), {}, "model") is None


@pytest.fixture
def base_url() -> Any:
    saved = dashscope.base_http_api_url
    yield
    dashscope.base_http_api_url = saved


@pytest.mark.usefixtures("base_url")
def test_request_facts_of_a_generation_call() -> None:
    dashscope.base_http_api_url = "http://127.0.0.1:9999/api/v1"
    call = GenerationExtractor().request(None, ("qwen-plus",), {"stream": True, "enable_thinking": True})
    assert call == CallInfo(
        provider="dashscope",
        operation="chat",
        request_model="qwen-plus",
        source="dashscope",
        stream=True,
        server_address="127.0.0.1",
        server_port=9999,
        thinking=True,
    )
    dashscope.base_http_api_url = "http://127.0.0.2:8888/api/v1"  # read per call
    assert GenerationExtractor().request(None, (), {"model": "qwen-max"}).server_port == 8888


@pytest.mark.usefixtures("base_url")
def test_an_unset_base_url_is_the_sdks_default_and_base_address_wins() -> None:
    dashscope.base_http_api_url = None
    call = GenerationExtractor().request(None, ("qwen-plus",), {})
    assert (call.server_address, call.server_port) == server_of(DEFAULT_BASE_URL)
    kwargs = {"base_address": "http://10.0.0.1:81/api/v1"}
    per_call = GenerationExtractor().request(None, ("qwen-plus",), kwargs)
    assert (per_call.server_address, per_call.server_port) == ("10.0.0.1", 81)


def test_request_facts_of_embedding_and_application_calls() -> None:
    embedding = EmbeddingExtractor().request(None, ("text-embedding-v4", "hello"), {"stream": True})
    assert (embedding.operation, embedding.request_model) == ("embeddings", "text-embedding-v4")
    assert not embedding.stream  # TextEmbedding drops ``stream``
    app = ApplicationExtractor().request(None, (), {"app_id": "app-123", "prompt": "p", "stream": True})
    assert (app.operation, app.request_model, app.agent_id) == ("invoke_agent", None, "app-123")
    assert app.stream


def test_a_stream_is_a_generator_and_a_response_is_not() -> None:
    extractor = GenerationExtractor()
    call = extractor.request(None, ("qwen-plus",), {})

    async def agen() -> Any:
        yield 1

    assert not extractor.is_stream(call, generation(FULL_USAGE))
    assert extractor.is_stream(call, iter([generation(FULL_USAGE)]))
    assert extractor.is_stream(call, agen())


def test_reasoning_tokens_in_a_response_mean_thinking_mode() -> None:
    extractor = GenerationExtractor()
    call = extractor.request(None, ("qwen-plus",), {})
    usage, failure = extractor.response(call, generation(FULL_USAGE))
    assert failure is None
    assert call.thinking
    assert usage.reasoning_tokens == 120


def test_a_stream_chunk_with_an_error_status_fails_the_stream_keeping_usage() -> None:
    extractor = GenerationExtractor()
    call = extractor.request(None, ("qwen-plus",), {"stream": True})
    state = StreamState()
    first = generation({"input_tokens": 10, "output_tokens": 4}, finish="null")
    assert extractor.observe_chunk(call, state, first) is False  # never hidden from the caller
    extractor.observe_chunk(call, state, failed(500, "InternalError", "stream broke"))
    assert state.failure == Failure("InternalError", "stream broke")
    assert (state.usage.input_tokens, state.usage.output_tokens) == (10, 4)
