"""Anthropic wire protocol of the fake: ``POST /v1/messages``, a JSON ``Message`` or its event stream.

Shapes follow what the official ``anthropic`` SDK parses. Anthropic's ``input_tokens`` leaves out the
cache: a directive's ``prompt_tokens`` (all input, the monitor's convention) is split into
``input_tokens`` + ``cache_read_input_tokens`` (``cached_tokens``) + ``cache_creation_input_tokens``
(``cache_write_tokens``). Errors are ``{"type": "error", "error": {"type": ..., "message": ...}}``, as an
HTTP status or, mid-stream, as an ``error`` event.
"""

from __future__ import annotations

from typing import Any

from ai_usage_monitor.testing.fake.exchange import (
    Call,
    Reply,
    json_reply,
    plan_or_error,
    sse_event,
    stream_reply,
)
from ai_usage_monitor.testing.fake.scenario import Plan, content_text, messages_text

__all__ = ["error_body", "error_reply", "message_usage", "messages"]

#: HTTP status → Anthropic's error type (the SDK picks its exception class from the status)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str, request_id: str = "req_fake") -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def error_reply(status: int, message: str, delay_s: float = 0.0) -> Reply:
    """An Anthropic-style error answer; the SDK raises the matching ``APIStatusError`` subclass."""
    return json_reply(error_body(status, message), status=status, delay_s=delay_s)


def message_usage(plan: Plan, output_tokens: int | None = None) -> dict[str, Any]:
    """Anthropic ``usage``: input without the cache, cache reads and writes apart, output so far."""
    uncached = max(plan.prompt_tokens - plan.cached_tokens - plan.cache_write_tokens, 0)
    usage: dict[str, Any] = {
        "input_tokens": uncached,
        "cache_creation_input_tokens": plan.cache_write_tokens,
        "cache_read_input_tokens": plan.cached_tokens,
        "output_tokens": plan.completion_tokens if output_tokens is None else output_tokens,
        "service_tier": "standard",
    }
    if plan.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": plan.reasoning_tokens}
    return usage


def _request_text(body: dict[str, Any]) -> str:
    system = content_text(body.get("system"))
    text = messages_text(body.get("messages") or [])
    return f"{system}\n{text}" if system else text


def _thinking(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in {"enabled", "adaptive"}


def messages(call: Call) -> Reply:
    body = call.body
    plan = plan_or_error(_request_text(body), _thinking(body), error_reply)
    if isinstance(plan, Reply):
        return plan
    head = {
        "id": f"msg_{call.request_id}",
        "type": "message",
        "role": "assistant",
        "model": str(body.get("model", "")),
        "stop_sequence": None,
    }
    if not body.get("stream"):
        content = [{"type": "text", "text": plan.answer}]
        message = {**head, "content": content, "stop_reason": "end_turn", "usage": message_usage(plan)}
        return json_reply(message, delay_s=plan.delay_s)
    return stream_reply(_frames(plan, head, call.request_id), plan.delay_s)


def _event(kind: str, **fields: Any) -> bytes:
    return sse_event({"type": kind, **fields}, event=kind)


def _frames(plan: Plan, head: dict[str, Any], request_id: str) -> list[bytes]:
    first_usage = message_usage(plan, min(1, plan.completion_tokens))
    start = {**head, "content": [], "stop_reason": None, "usage": first_usage}
    frames = [
        _event("message_start", message=start),
        _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        _event("ping"),
    ]
    frames += [
        _event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
        for piece in plan.streamed_pieces()
    ]
    if plan.stream_error_after is not None:
        message = f"fake stream error after {plan.stream_error_after} chunks"
        return [*frames, sse_event(error_body(529, message, f"req_{request_id}"), event="error")]
    final_usage = message_usage(plan)
    del final_usage["service_tier"]
    return [
        *frames,
        _event("content_block_stop", index=0),
        _event("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage=final_usage),
        _event("message_stop"),
    ]
