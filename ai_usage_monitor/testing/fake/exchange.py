"""The request an endpoint sees (``Call``) and the answer it gives (``Reply``), free of HTTP plumbing.

Endpoints are pure functions ``Call -> Reply``; the server only moves bytes and sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ai_usage_monitor.testing.fake.scenario import DirectiveError, Plan, make_plan

__all__ = ["Call", "ErrorReply", "Reply", "json_reply", "plan_or_error", "sse_event", "stream_reply"]

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True)
class Call:
    """One decoded request: JSON body, lower-case headers, ids the answer should carry, route params."""

    body: dict[str, Any]
    headers: dict[str, str]
    request_id: str
    created: int
    params: dict[str, str] = field(default_factory=dict)

    @property
    def wants_dashscope_stream(self) -> bool:
        return self.headers.get("x-dashscope-sse", "").lower() == "enable"


@dataclass(frozen=True)
class Reply:
    """An answer: a JSON/plain body, or (``frames`` not ``None``) an event stream written frame by frame."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    frames: tuple[bytes, ...] | None = None
    delay_s: float = 0.0
    frame_delay_s: float = 0.0


def json_reply(obj: Any, status: int = 200, delay_s: float = 0.0) -> Reply:
    return Reply(status=status, body=orjson.dumps(obj), delay_s=delay_s)


def stream_reply(frames: Iterable[bytes], delay_s: float = 0.0) -> Reply:
    """A 200 event stream; ``delay_s`` is slept before the answer and between frames."""
    return Reply(content_type=SSE_CONTENT_TYPE, frames=tuple(frames), delay_s=delay_s, frame_delay_s=delay_s)


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One standard server-sent event (``event: ...`` optional, ``data: <json>``) as OpenAI sends it."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"


ErrorReply = Callable[[int, str, float], Reply]
"""Builds a provider-style error answer from (HTTP status, message, delay in seconds)."""


def plan_or_error(text: str, thinking: bool, error_reply: ErrorReply) -> Plan | Reply:
    """The plan for a request's text, or the error reply its directive asks for (or a 400 for a bad one)."""
    try:
        plan = make_plan(text, thinking=thinking)
    except DirectiveError as exc:
        return error_reply(400, str(exc), 0.0)
    if plan.error is not None:
        return error_reply(plan.error, f"fake error {plan.error} asked by directive", plan.delay_s)
    return plan
