"""OpenAI wire protocol of the fake: chat completions, embeddings and the Responses API.

Shapes follow what the official ``openai`` SDK parses (also served as DashScope's compatible mode).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from ai_usage_monitor.testing.fake.exchange import (
    Call,
    Reply,
    json_reply,
    plan_or_error,
    sse_event,
    stream_reply,
)
from ai_usage_monitor.testing.fake.scenario import (
    Plan,
    content_text,
    embedding_vector,
    messages_text,
    response_model,
)

__all__ = ["chat_completions", "chat_usage", "embeddings", "error_reply", "responses", "responses_usage"]

DEFAULT_EMBEDDING_DIMENSIONS = 8
_DONE = b"data: [DONE]\n\n"
_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_value"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_TYPES.get(status, ("server_error", "server_error"))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_reply(status: int, message: str, delay_s: float = 0.0) -> Reply:
    """An OpenAI-style error answer; the SDK raises the matching ``APIStatusError`` subclass."""
    return json_reply(_error_body(status, message), status=status, delay_s=delay_s)


def _stream_error_frame(plan: Plan) -> bytes:
    return sse_event(_error_body(500, f"fake stream error after {plan.stream_error_after} chunks"))


def _plan(text: str, thinking: bool = False) -> Plan | Reply:
    return plan_or_error(text, thinking, error_reply)


def chat_usage(plan: Plan) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.total_tokens,
    }
    if plan.details:
        usage["prompt_tokens_details"] = {"cached_tokens": plan.cached_tokens, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return usage


def chat_completions(call: Call) -> Reply:
    body = call.body
    plan = _plan(messages_text(body.get("messages") or []), bool(body.get("enable_thinking")))
    if isinstance(plan, Reply):
        return plan
    head = {
        "id": f"chatcmpl-{call.request_id}",
        "created": call.created,
        "model": response_model(str(body.get("model", ""))),
        "system_fingerprint": "fp_fake",
    }
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": plan.answer, "annotations": []}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        result = {**head, "object": "chat.completion", "choices": [choice], "usage": chat_usage(plan)}
        return json_reply({**result, "service_tier": "default"}, delay_s=plan.delay_s)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return stream_reply(_chat_frames(plan, head, include_usage), plan.delay_s)


def _chat_frames(plan: Plan, head: dict[str, Any], include_usage: bool) -> list[bytes]:
    chunk_head = {**head, "object": "chat.completion.chunk"}
    no_usage = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse_event({**chunk_head, "choices": [choice], **no_usage})

    frames = [
        chunk({"role": "assistant", "content": piece} if i == 0 else {"content": piece}, None)
        for i, piece in enumerate(plan.streamed_pieces())
    ]
    if plan.stream_error_after is not None:
        return [*frames, _stream_error_frame(plan)]
    frames.append(chunk({}, "stop"))
    if include_usage:
        frames.append(sse_event({**chunk_head, "choices": [], "usage": chat_usage(plan)}))
    return [*frames, _DONE]


def _embedding_texts(raw: Any) -> list[str]:
    """Inputs as texts: a string, a list of strings, or token arrays (tokens joined by spaces)."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [" ".join(map(str, raw))]
    if isinstance(raw, list):
        return [item if isinstance(item, str) else " ".join(map(str, item)) for item in raw]
    return [str(raw)]


def _encode_embedding(vector: list[float], encoding_format: str) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def embeddings(call: Call) -> Reply:
    body = call.body
    texts = _embedding_texts(body.get("input", ""))
    plan = _plan("\n".join(texts))
    if isinstance(plan, Reply):
        return plan
    dimensions = int(body.get("dimensions") or DEFAULT_EMBEDDING_DIMENSIONS)
    encoding = str(body.get("encoding_format") or "float")
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _encode_embedding(embedding_vector(t, dimensions), encoding),
        }
        for i, t in enumerate(texts)
    ]
    usage = {"prompt_tokens": plan.prompt_tokens, "total_tokens": plan.prompt_tokens}
    result = {"object": "list", "data": data, "model": str(body.get("model", "")), "usage": usage}
    return json_reply(result, delay_s=plan.delay_s)


def responses_usage(plan: Plan) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": plan.prompt_tokens,
        "output_tokens": plan.completion_tokens,
        "total_tokens": plan.total_tokens,
    }
    if plan.details:
        usage["input_tokens_details"] = {"cached_tokens": plan.cached_tokens}
        usage["output_tokens_details"] = {"reasoning_tokens": plan.reasoning_tokens}
    return usage


def _responses_text(body: dict[str, Any]) -> str:
    raw = body.get("input", "")
    text = messages_text(raw) if isinstance(raw, list) else content_text(raw)
    instructions = body.get("instructions")
    return f"{instructions}\n{text}" if isinstance(instructions, str) else text


class _ResponseShapes:
    """Builds the Response object, its message item and the stream events of one call."""

    def __init__(self, call: Call, plan: Plan) -> None:
        self.call = call
        self.plan = plan
        self.item_id = f"msg_{call.request_id}"
        self.sequence = 0

    def part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def item(self, done: bool) -> dict[str, Any]:
        return {
            "type": "message",
            "id": self.item_id,
            "status": "completed" if done else "in_progress",
            "role": "assistant",
            "content": [self.part(self.plan.answer)] if done else [],
        }

    def response(self, done: bool) -> dict[str, Any]:
        body = self.call.body
        return {
            "id": f"resp_{self.call.request_id}",
            "object": "response",
            "created_at": self.call.created,
            "status": "completed" if done else "in_progress",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": response_model(str(body.get("model", ""))),
            "output": [self.item(done=True)] if done else [],
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": responses_usage(self.plan) if done else None,
            "user": None,
            "metadata": {},
        }

    def event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse_event(data, event=kind)

    def frames(self) -> list[bytes]:
        where = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        frames = [
            self.event("response.created", response=self.response(done=False)),
            self.event("response.in_progress", response=self.response(done=False)),
            self.event("response.output_item.added", output_index=0, item=self.item(done=False)),
            self.event("response.content_part.added", part=self.part(""), **where),
        ]
        frames += [
            self.event("response.output_text.delta", delta=piece, logprobs=[], **where)
            for piece in self.plan.streamed_pieces()
        ]
        if self.plan.stream_error_after is not None:
            return [*frames, _stream_error_frame(self.plan)]
        return [
            *frames,
            self.event("response.output_text.done", text=self.plan.answer, logprobs=[], **where),
            self.event("response.content_part.done", part=self.part(self.plan.answer), **where),
            self.event("response.output_item.done", output_index=0, item=self.item(done=True)),
            self.event("response.completed", response=self.response(done=True)),
        ]


def responses(call: Call) -> Reply:
    plan = _plan(_responses_text(call.body), bool(call.body.get("reasoning")))
    if isinstance(plan, Reply):
        return plan
    shapes = _ResponseShapes(call, plan)
    if call.body.get("stream"):
        return stream_reply(shapes.frames(), plan.delay_s)
    return json_reply(shapes.response(done=True), delay_s=plan.delay_s)
