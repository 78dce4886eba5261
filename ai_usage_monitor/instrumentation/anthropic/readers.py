"""SDK-free readers of Anthropic responses and stream events (SDK objects or their JSON dicts), in the
monitor's token convention; ``track_ai_usage`` can use them without the ``anthropic`` package installed.

``input_tokens`` counts all input, so it is Anthropic's ``input_tokens + cache_read_input_tokens +
cache_creation_input_tokens``; ``cached_tokens`` is the cache read, ``cache_write_tokens`` the cache
creation, ``reasoning_tokens`` the thinking tokens of ``output_tokens_details`` (within ``output_tokens``).

Streams report usage twice: ``message_start`` carries the input (and a first output count),
``message_delta`` the cumulative output (and, from newer API versions, the input again). A stream cut
short keeps what it had shown.
"""

from __future__ import annotations

from typing import Any

from ai_usage_monitor.instrumentation.core import StreamState, Usage
from ai_usage_monitor.instrumentation.fields import count, field

__all__ = ["anthropic_response_usage", "field", "message_usage", "observe_message_event", "text", "usage_of"]


def _count(obj: Any, name: str) -> int | None:
    return count(field(obj, name))


def text(obj: Any, name: str) -> str | None:
    value = field(obj, name)
    return value if isinstance(value, str) and value else None


def usage_of(usage: Any) -> Usage:
    """Token counts of an Anthropic ``Usage`` (or ``MessageDeltaUsage``), in the monitor's convention."""
    uncached = _count(usage, "input_tokens")
    read = _count(usage, "cache_read_input_tokens")
    written = _count(usage, "cache_creation_input_tokens")
    known = uncached is not None
    return Usage(
        input_tokens=(uncached or 0) + (read or 0) + (written or 0) if known else None,
        output_tokens=_count(usage, "output_tokens"),
        cached_tokens=read or 0 if known else read,
        reasoning_tokens=_count(field(usage, "output_tokens_details"), "thinking_tokens"),
        cache_write_tokens=written or 0 if known else written,
    )


def message_usage(message: Any) -> Usage:
    """Usage, model, id and stop reason of a ``Message`` (or its JSON dict)."""
    usage = usage_of(field(message, "usage"))
    usage.response_model = text(message, "model")
    usage.request_id = text(message, "id") or text(message, "_request_id")
    reason = text(message, "stop_reason")
    usage.finish_reasons = (reason,) if reason else ()
    return usage


def anthropic_response_usage(response: Any) -> Usage | None:
    """Usage of an Anthropic ``Message`` (object or JSON dict), ``None`` for anything else.

    For ``track_ai_usage``: tells an Anthropic message from other providers' responses (which also have
    ``usage.input_tokens``, but with the cache included) by its ``type`` or its cache counts.
    """
    usage = field(response, "usage")
    if usage is None or _count(usage, "input_tokens") is None:
        return None
    anthropic_shaped = field(response, "type") == "message" or any(
        field(usage, name) is not None for name in ("cache_read_input_tokens", "cache_creation_input_tokens")
    )
    return message_usage(response) if anthropic_shaped else None


def _merge_delta(usage: Usage, delta: Usage) -> None:
    """Fold a ``message_delta``'s cumulative counts into ``usage``; counts it leaves out are kept."""
    if delta.output_tokens is not None:
        usage.output_tokens = delta.output_tokens
    if delta.reasoning_tokens is not None:
        usage.reasoning_tokens = delta.reasoning_tokens
    if delta.input_tokens is not None:  # the delta said all three input counts (absent ones are 0)
        usage.input_tokens = delta.input_tokens
        usage.cached_tokens = delta.cached_tokens
        usage.cache_write_tokens = delta.cache_write_tokens


def observe_message_event(state: StreamState, event: Any) -> None:
    """Fold one ``RawMessageStreamEvent`` into ``state``: ``message_start`` and ``message_delta`` count."""
    kind = field(event, "type")
    if kind == "message_start":
        state.usage = message_usage(field(event, "message"))
    elif kind == "message_delta":
        usage = state.usage
        _merge_delta(usage, usage_of(field(event, "usage")))
        reason = text(field(event, "delta"), "stop_reason")
        if reason:
            usage.finish_reasons = (reason,)
