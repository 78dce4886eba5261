"""Read Anthropic SDK requests and responses into the core's ``CallInfo`` / ``Usage``: pure functions over
SDK objects (or their JSON dicts), and the extractors of ``messages.create`` and ``messages.stream``.

Token convention (the monitor's, as for OpenAI): ``input_tokens`` counts all input, so it is Anthropic's
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; ``cached_tokens`` is the cache
read, ``cache_write_tokens`` the cache creation, ``reasoning_tokens`` the thinking tokens Anthropic
reports in ``output_tokens_details`` (included in ``output_tokens``).

Streams report usage twice: ``message_start`` carries the input (and a first output count),
``message_delta`` the cumulative output (and, from newer API versions, the input again). A stream cut
short keeps what it had shown.

Raw responses (``with_raw_response`` / ``with_streaming_response``) are the caller's to read: their
records have unknown usage (``usage_missing``).
"""

from __future__ import annotations

from typing import Any

from anthropic import APIStatusError, AsyncStream, Stream

from ai_usage_monitor.instrumentation.anthropic.helpers import manager_proxy
from ai_usage_monitor.instrumentation.core import CallInfo, CallTracker, Failure, StreamState, Usage
from ai_usage_monitor.instrumentation.streams import AsyncStreamProxy, StreamProxy

try:  # private module of the SDK: what ``with_raw_response`` / ``with_streaming_response`` calls return
    from anthropic._response import APIResponse, AsyncAPIResponse

    _RAW_RESPONSES: tuple[type[Any], ...] = (APIResponse, AsyncAPIResponse)
except ImportError:  # pragma: no cover - depends on the installed SDK
    _RAW_RESPONSES = ()

__all__ = [
    "PROVIDER_ANTHROPIC",
    "SOURCE",
    "MessagesExtractor",
    "StreamHelperExtractor",
    "anthropic_response_usage",
    "failure_of",
    "message_usage",
    "observe_message_event",
    "provider_of",
    "usage_of",
]

PROVIDER_ANTHROPIC = "anthropic"
#: the ``source`` of every record written by this instrumentation
SOURCE = "anthropic"
#: client classes serving Claude from another cloud, by class name (their modules need extra packages)
_CLOUD_PROVIDERS = {
    "AnthropicBedrock": "aws.bedrock",
    "AsyncAnthropicBedrock": "aws.bedrock",
    "AnthropicVertex": "gcp.vertex_ai",
    "AsyncAnthropicVertex": "gcp.vertex_ai",
}
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` of an SDK model, or ``obj[name]`` of its JSON dict; ``None`` when absent."""
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def _count(obj: Any, name: str) -> int | None:
    value = _field(obj, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(obj: Any, name: str) -> str | None:
    value = _field(obj, name)
    return value if isinstance(value, str) and value else None


def provider_of(client: Any) -> str:
    """``anthropic``, or the cloud's provider name for the Bedrock and Vertex AI clients."""
    return _CLOUD_PROVIDERS.get(type(client).__name__, PROVIDER_ANTHROPIC)


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
        reasoning_tokens=_count(_field(usage, "output_tokens_details"), "thinking_tokens"),
        cache_write_tokens=written or 0 if known else written,
    )


def message_usage(message: Any) -> Usage:
    """Usage, model, id and stop reason of a ``Message`` (or its JSON dict)."""
    usage = usage_of(_field(message, "usage"))
    usage.response_model = _text(message, "model")
    usage.request_id = _text(message, "id") or _text(message, "_request_id")
    reason = _text(message, "stop_reason")
    usage.finish_reasons = (reason,) if reason else ()
    return usage


def anthropic_response_usage(response: Any) -> Usage | None:
    """Usage of an Anthropic ``Message`` (object or JSON dict), ``None`` for anything else.

    For ``track_ai_usage``: tells an Anthropic message from other providers' responses (which also have
    ``usage.input_tokens``, but with the cache included) by its ``type`` or its cache counts.
    """
    usage = _field(response, "usage")
    if usage is None or _count(usage, "input_tokens") is None:
        return None
    anthropic_shaped = _field(response, "type") == "message" or any(
        _field(usage, name) is not None for name in ("cache_read_input_tokens", "cache_creation_input_tokens")
    )
    return message_usage(response) if anthropic_shaped else None


def failure_of(exc: BaseException) -> Failure:
    """An SDK exception as a failure: its class (``RateLimitError``, ``OverloadedError``, ...), or for a bare
    ``APIStatusError`` (an ``error`` event mid-stream, answered with HTTP 200) Anthropic's error type."""
    error_type = type(exc).__name__
    if type(exc) is APIStatusError:
        error_type = _text(_field(getattr(exc, "body", None), "error"), "type") or error_type
    return Failure(error_type, str(exc) or type(exc).__name__)


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
    kind = _field(event, "type")
    if kind == "message_start":
        state.usage = message_usage(_field(event, "message"))
    elif kind == "message_delta":
        usage = state.usage
        _merge_delta(usage, usage_of(_field(event, "usage")))
        reason = _text(_field(event, "delta"), "stop_reason")
        if reason:
            usage.finish_reasons = (reason,)


def _request_model(kwargs: dict[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) and model else None


#: endpoints by client type and ``id`` of its base URL object (a client's URL is replaced, never mutated)
_endpoints: dict[tuple[type[Any], int], tuple[Any, str, str | None, int | None]] = {}
_ENDPOINTS_LIMIT = 256


def _endpoint(client: Any) -> tuple[str, str | None, int | None]:
    """Provider, host and port of a client, remembered per base URL object."""
    url = getattr(client, "_base_url", None)
    if url is None:
        url = getattr(client, "base_url", None)
    key = (type(client), id(url))
    hit = _endpoints.get(key)
    if hit is not None and hit[0] is url:
        return hit[1:]
    host = str(getattr(url, "host", "") or "") or None
    port = getattr(url, "port", None)
    if port is None:
        port = _DEFAULT_PORTS.get(str(getattr(url, "scheme", "")))
    if len(_endpoints) >= _ENDPOINTS_LIMIT:
        _endpoints.clear()
    _endpoints[key] = (url, provider_of(client), host, port)  # holding the URL keeps its id unique
    return provider_of(client), host, port


class MessagesExtractor:
    """``messages.create`` / ``messages.parse`` (sync and async), streamed with ``stream=True`` or not."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        provider, address, port = _endpoint(getattr(instance, "_client", None))
        return CallInfo(
            provider, "chat", _request_model(kwargs), SOURCE, kwargs.get("stream") is True, address, port
        )

    def is_stream(self, call: CallInfo, result: Any) -> bool:
        return isinstance(result, (Stream, AsyncStream))

    def response(self, call: CallInfo, result: Any) -> tuple[Usage, Failure | None]:
        if isinstance(result, _RAW_RESPONSES):
            return Usage(), None  # the body is the caller's to read
        return message_usage(result), None

    def observe_chunk(self, call: CallInfo, state: StreamState, chunk: Any) -> bool:
        observe_message_event(state, chunk)
        return False

    def failure(self, exc: BaseException) -> Failure:
        return failure_of(exc)

    def wrap_stream(self, result: Any, tracker: CallTracker) -> Any:
        if isinstance(result, AsyncStream):
            return AsyncStreamProxy(result, tracker)
        return StreamProxy(result, tracker)


class StreamHelperExtractor(MessagesExtractor):
    """``messages.stream(...)``: returns a stream manager; the request is sent when it is entered."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        call = super().request(instance, args, kwargs)
        call.stream = True
        return call

    def is_stream(self, call: CallInfo, result: Any) -> bool:
        return True

    def wrap_stream(self, result: Any, tracker: CallTracker) -> Any:
        return manager_proxy(result, tracker)
