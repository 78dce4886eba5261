"""Unit tests of the fake provider's pure parts: directives, plans, routing and wire frames."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ai_usage_monitor.testing.fake import dashscope_wire, openai_wire
from ai_usage_monitor.testing.fake.exchange import Call
from ai_usage_monitor.testing.fake.scenario import (
    DEFAULT_ANSWER,
    Directive,
    DirectiveError,
    answer_pieces,
    content_text,
    embedding_vector,
    make_plan,
    messages_text,
    parse_directive,
    response_model,
)
from ai_usage_monitor.testing.fake.server import route


def test_parse_full_directive() -> None:
    text = (
        "please [[fake prompt_tokens=130000 completion_tokens=50 cached_tokens=100 reasoning_tokens=20"
        " chunks=5 error=429 stream_error_after=2 delay_ms=30]] thanks"
    )
    assert parse_directive(text) == Directive(
        prompt_tokens=130000,
        completion_tokens=50,
        cached_tokens=100,
        reasoning_tokens=20,
        chunks=5,
        error=429,
        stream_error_after=2,
        delay_ms=30,
    )


def test_parse_directive_absent_empty_and_last_wins() -> None:
    assert parse_directive("no directive here [fake x=1]") is None
    assert parse_directive("[[fake]]") == Directive()
    assert parse_directive("[[fake chunks=2]] then [[fake chunks=7]]") == Directive(chunks=7)


@pytest.mark.parametrize(
    ("text", "message"),
    [("[[fake tokens=3]]", "unknown item 'tokens=3'"), ("[[fake chunks=many]]", "chunks needs an integer")],
)
def test_parse_directive_rejects_typos(text: str, message: str) -> None:
    with pytest.raises(DirectiveError, match=message):
        parse_directive(text)


def test_plan_without_directive_is_deterministic_and_never_zero() -> None:
    short, longer = make_plan(""), make_plan("x" * 400)
    assert short.prompt_tokens > 0 and short.completion_tokens > 0
    assert longer.prompt_tokens > short.prompt_tokens
    assert make_plan("x" * 400) == longer
    assert short.answer == DEFAULT_ANSWER
    assert (short.cached_tokens, short.reasoning_tokens, short.error, short.delay_s) == (0, 0, None, 0.0)


def test_plan_takes_directive_values() -> None:
    plan = make_plan(
        "[[fake prompt_tokens=10 completion_tokens=4 cached_tokens=2 reasoning_tokens=1 delay_ms=30]]"
    )
    assert (plan.prompt_tokens, plan.completion_tokens, plan.total_tokens) == (10, 4, 14)
    assert (plan.cached_tokens, plan.reasoning_tokens, plan.delay_s) == (2, 1, 0.03)
    assert plan.thinking


def test_thinking_plan_counts_reasoning_inside_output() -> None:
    plain, thinking = make_plan("hi"), make_plan("hi", thinking=True)
    assert thinking.reasoning_tokens > 0
    assert thinking.completion_tokens == plain.completion_tokens + thinking.reasoning_tokens


@pytest.mark.parametrize("chunks", [1, 3, 9, 20])
def test_answer_pieces_split_the_answer(chunks: int) -> None:
    pieces = answer_pieces(chunks)
    assert len(pieces) == chunks
    assert all(pieces)
    assert "".join(pieces).startswith(DEFAULT_ANSWER)


def test_cumulative_output_tokens_grow_to_the_exact_total() -> None:
    plan = make_plan("[[fake completion_tokens=10 reasoning_tokens=4 chunks=3]]")
    assert [plan.output_tokens_after(n) for n in (1, 2, 3)] == [4, 7, 10]
    assert plan.reasoning_tokens_after(3) == 4


def test_stream_error_cuts_pieces() -> None:
    assert len(make_plan("[[fake chunks=5 stream_error_after=2]]").streamed_pieces()) == 2
    assert len(make_plan("[[fake chunks=5]]").streamed_pieces()) == 5


def test_text_extraction_from_every_content_shape() -> None:
    openai_parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]
    assert content_text(openai_parts) == "a\n"
    assert content_text([{"image": "u"}, {"text": "b"}]) == "\nb"
    assert content_text(None) == ""
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "input_text", "text": "u"}]},
    ]
    assert messages_text(messages) == "s\nu"


def test_response_model_maps_known_aliases_only() -> None:
    assert response_model("gpt-4o-mini") == "gpt-4o-mini-2024-07-18"
    assert response_model("gpt-4o-2024-05-13") == "gpt-4o-2024-05-13"
    assert response_model("qwen-plus") == "qwen-plus"


def test_embedding_vector_is_deterministic() -> None:
    first = embedding_vector("text", 40)
    assert first == embedding_vector("text", 40) != embedding_vector("other", 40)
    assert len(first) == 40 and all(-1.0 <= v <= 1.0 for v in first)


@pytest.mark.parametrize(
    ("path", "endpoint", "params"),
    [
        ("/v1/chat/completions", openai_wire.chat_completions, {}),
        ("/compatible-mode/v1/chat/completions?x=1", openai_wire.chat_completions, {}),
        ("/v1/responses", openai_wire.responses, {}),
        ("/compatible-mode/v1/embeddings", openai_wire.embeddings, {}),
        ("/api/v1/services/aigc/text-generation/generation", dashscope_wire.generation, {}),
        ("/api/v1/services/aigc/multimodal-generation/generation", dashscope_wire.multimodal_generation, {}),
        ("/api/v1/services/embeddings/text-embedding/text-embedding", dashscope_wire.text_embedding, {}),
        ("/api/v1/apps/abc123/completion", dashscope_wire.app_completion, {"app_id": "abc123"}),
    ],
)
def test_route(path: str, endpoint: Any, params: dict[str, str]) -> None:
    assert route(path) == (endpoint, params)


def test_route_unknown() -> None:
    assert route("/v2/chat/completions") is None
    assert route("/api/v1/apps//completion") is None


def call(body: dict[str, Any], **headers: str) -> Call:
    return Call(body=body, headers=headers, request_id="r1", created=1700000000)


def sse_payloads(frames: tuple[bytes, ...]) -> list[Any]:
    payloads = []
    for data in frames:
        line = data.decode().strip().split("\n")[-1].removeprefix("data: ")
        payloads.append(line if line == "[DONE]" else orjson.loads(line))
    return payloads


def test_chat_stream_chunks_have_no_usage_key_unless_asked() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "[[fake chunks=2]]"}],
        "stream": True,
    }
    plain = openai_wire.chat_completions(call(body))
    asked = openai_wire.chat_completions(call({**body, "stream_options": {"include_usage": True}}))
    assert plain.frames is not None and asked.frames is not None

    plain_chunks = sse_payloads(plain.frames)
    assert plain_chunks[-1] == "[DONE]"
    assert all("usage" not in chunk for chunk in plain_chunks[:-1])
    asked_chunks = sse_payloads(asked.frames)
    assert all(chunk["usage"] is None for chunk in asked_chunks[:-2])
    assert asked_chunks[-2]["choices"] == [] and asked_chunks[-2]["usage"]["total_tokens"] > 0


def test_dashscope_frame_bytes() -> None:
    assert dashscope_wire.frame(3, "error", 500, {"code": "InternalError"}) == (
        b'id:3\nevent:error\n:HTTP_STATUS/500\ndata:{"code":"InternalError"}\n\n'
    )


def test_dashscope_stream_frames_and_error_frame() -> None:
    body = {
        "model": "qwen-plus",
        "input": {"prompt": "[[fake chunks=3 stream_error_after=2 completion_tokens=9]]"},
    }
    reply = dashscope_wire.generation(call(body, **{"x-dashscope-sse": "enable"}))
    assert reply.frames is not None and reply.status == 200
    heads = [frame.split(b"\ndata:")[0] for frame in reply.frames]
    assert heads == [
        b"id:1\nevent:result\n:HTTP_STATUS/200",
        b"id:2\nevent:result\n:HTTP_STATUS/200",
        b"id:3\nevent:error\n:HTTP_STATUS/500",
    ]
    data = [orjson.loads(frame.split(b"\ndata:")[1]) for frame in reply.frames]
    assert [d["usage"]["output_tokens"] for d in data[:2]] == [3, 6]
    assert data[2]["code"] == "InternalError" and data[2]["request_id"] == "r1"


@pytest.mark.parametrize(
    ("status", "code"), [(429, "Throttling.RateQuota"), (500, "InternalError"), (400, "InvalidParameter")]
)
def test_dashscope_error_codes(status: int, code: str) -> None:
    reply = dashscope_wire.generation(
        call({"model": "qwen-plus", "input": {"prompt": f"[[fake error={status}]]"}})
    )
    assert reply.status == status
    assert orjson.loads(reply.body) == {
        "code": code,
        "message": f"fake error {status} asked by directive",
        "request_id": "r1",
    }
