"""DashScope native wire protocol of the fake: generation, multimodal, text embedding and apps.

Streams (header ``X-DashScope-SSE: enable``) carry cumulative usage in every frame, as DashScope does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ai_usage_monitor.testing.fake.exchange import Call, Reply, json_reply, plan_or_error, stream_reply
from ai_usage_monitor.testing.fake.scenario import Plan, content_text, embedding_vector, messages_text

__all__ = [
    "APP_MODEL_ID",
    "app_completion",
    "error_reply",
    "frame",
    "generation",
    "generation_usage",
    "multimodal_generation",
    "text_embedding",
]

APP_MODEL_ID = "qwen-plus"
REASONING_TEXT = "Fake reasoning."
DEFAULT_EMBEDDING_DIMENSIONS = 8
_ERROR_CODES = {
    400: "InvalidParameter",
    401: "InvalidApiKey",
    403: "AccessDenied",
    404: "ModelNotFound",
    429: "Throttling.RateQuota",
}


def _error_body(status: int, message: str, request_id: str) -> dict[str, Any]:
    return {"code": _ERROR_CODES.get(status, "InternalError"), "message": message, "request_id": request_id}


def error_reply(status: int, message: str, delay_s: float = 0.0, request_id: str = "") -> Reply:
    """A DashScope-style error; the SDK returns it as a response with this ``status_code``."""
    return json_reply(_error_body(status, message, request_id), status=status, delay_s=delay_s)


def _plan(call: Call, text: str, thinking: bool) -> Plan | Reply:
    return plan_or_error(text, thinking, lambda s, m, d: error_reply(s, m, d, call.request_id))


def frame(number: int, event: str, status: int, data: Any) -> bytes:
    """One DashScope SSE frame (no space after the colons: the SDK matches ``event:error`` literally)."""
    return f"id:{number}\nevent:{event}\n:HTTP_STATUS/{status}\ndata:".encode() + orjson.dumps(data) + b"\n\n"


def _input_text(body: dict[str, Any]) -> str:
    given = body.get("input") or {}
    texts = [messages_text(given.get("messages") or []), content_text(given.get("prompt"))]
    return "\n".join(t for t in texts if t)


def _parameters(call: Call) -> dict[str, Any]:
    params = call.body.get("parameters")
    return params if isinstance(params, dict) else {}


def generation_usage(plan: Plan, sent: int) -> dict[str, Any]:
    """Usage once ``sent`` pieces went out: input constant, output (and reasoning) cumulative."""
    output = plan.output_tokens_after(sent)
    usage: dict[str, Any] = {
        "input_tokens": plan.prompt_tokens,
        "output_tokens": output,
        "total_tokens": plan.prompt_tokens + output,
    }
    if plan.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": plan.cached_tokens}
    if plan.thinking:
        usage["output_tokens_details"] = {"reasoning_tokens": plan.reasoning_tokens_after(sent)}
    return usage


def _app_usage(plan: Plan, sent: int) -> dict[str, Any]:
    output = plan.output_tokens_after(sent)
    return {
        "models": [{"model_id": APP_MODEL_ID, "input_tokens": plan.prompt_tokens, "output_tokens": output}]
    }


OutputBuilder = Callable[[Call, str, str, str | None], dict[str, Any]]
"""(call, text, finish_reason, reasoning text or None) -> the ``output`` object."""


def _message(text: Any, reasoning: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return message


def _generation_output(call: Call, text: str, finish: str, reasoning: str | None) -> dict[str, Any]:
    if _parameters(call).get("result_format") == "message":
        return {"choices": [{"finish_reason": finish, "message": _message(text, reasoning)}]}
    return {"text": text, "finish_reason": finish}


def _multimodal_output(call: Call, text: str, finish: str, reasoning: str | None) -> dict[str, Any]:
    return {"choices": [{"finish_reason": finish, "message": _message([{"text": text}], reasoning)}]}


def _app_output(call: Call, text: str, finish: str, reasoning: str | None) -> dict[str, Any]:
    given = call.body.get("input") or {}
    session_id = given.get("session_id") or f"session-{call.request_id}"
    return {"text": text, "finish_reason": finish, "session_id": session_id}


@dataclass(frozen=True)
class _Service:
    output: OutputBuilder
    usage: Callable[[Plan, int], dict[str, Any]]


def _answer(call: Call, service: _Service) -> Reply:
    thinking = bool(_parameters(call).get("enable_thinking"))
    plan = _plan(call, _input_text(call.body), thinking)
    if isinstance(plan, Reply):
        return plan
    reasoning = REASONING_TEXT if plan.thinking else None
    if not call.wants_dashscope_stream:
        output = service.output(call, plan.answer, "stop", reasoning)
        usage = service.usage(plan, len(plan.pieces))
        return json_reply(
            {"output": output, "usage": usage, "request_id": call.request_id}, delay_s=plan.delay_s
        )
    incremental = bool(_parameters(call).get("incremental_output"))
    frames = []
    for i, piece in enumerate(plan.streamed_pieces()):
        sent = i + 1
        text = piece if incremental else "".join(plan.pieces[:sent])
        finish = "stop" if sent == len(plan.pieces) else "null"
        step_reasoning = "" if incremental and i > 0 and reasoning is not None else reasoning
        data = {
            "output": service.output(call, text, finish, step_reasoning),
            "usage": service.usage(plan, sent),
            "request_id": call.request_id,
        }
        frames.append(frame(sent, "result", 200, data))
    if plan.stream_error_after is not None:
        message = f"fake stream error after {plan.stream_error_after} frames"
        frames.append(frame(len(frames) + 1, "error", 500, _error_body(500, message, call.request_id)))
    return stream_reply(frames, plan.delay_s)


_GENERATION = _Service(_generation_output, generation_usage)
_MULTIMODAL = _Service(_multimodal_output, generation_usage)
_APP = _Service(_app_output, _app_usage)


def generation(call: Call) -> Reply:
    return _answer(call, _GENERATION)


def multimodal_generation(call: Call) -> Reply:
    return _answer(call, _MULTIMODAL)


def app_completion(call: Call) -> Reply:
    return _answer(call, _APP)


def text_embedding(call: Call) -> Reply:
    texts = [str(t) for t in (call.body.get("input") or {}).get("texts") or []]
    plan = _plan(call, "\n".join(texts), False)
    if isinstance(plan, Reply):
        return plan
    dimensions = int(_parameters(call).get("dimension") or DEFAULT_EMBEDDING_DIMENSIONS)
    embeddings = [
        {"text_index": i, "embedding": embedding_vector(t, dimensions)} for i, t in enumerate(texts)
    ]
    result = {
        "output": {"embeddings": embeddings},
        "usage": {"total_tokens": plan.prompt_tokens},
        "request_id": call.request_id,
    }
    return json_reply(result, delay_s=plan.delay_s)
