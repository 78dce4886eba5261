"""Read OpenAI SDK requests and responses into the core's ``CallInfo`` / ``Usage``: pure functions over SDK
objects (or their JSON dicts), and one extractor per API family (chat completions, embeddings, Responses).

Provider rule: the client's base-URL host decides (``ai_usage_monitor.providers``, with the
``provider_hosts`` setting); an ``AzureOpenAI`` client is always ``azure.ai.openai``. The answer is
remembered per client base URL (and ``provider_hosts`` setting).

Operation names (GenAI semantic conventions): ``chat`` for chat completions and for the Responses API
alike (the OpenAI conventions tell the two apart with ``openai.api.type``, not with the operation), and
``embeddings``.

Stream usage: an OpenAI-protocol chat stream only reports usage when asked with
``stream_options.include_usage``. When the caller did not mention ``include_usage`` and the
``stream_usage`` setting is on, the monitor asks for it and hides the extra usage-only chunk. Every host
is assumed to support it except Azure, whose older API versions reject the option. A caller's own
``include_usage`` (``True`` or ``False``) is respected and never hidden.

Raw responses are never changed: a non-stream ``with_raw_response`` call is read from its JSON body;
the body of a raw stream or of ``with_streaming_response`` is the caller's to read, so those records
have unknown usage (``usage_missing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import AsyncAzureOpenAI, AsyncStream, AzureOpenAI, Stream

from ai_usage_monitor.instrumentation.core import CallInfo, CallTracker, Failure, StreamState, Usage
from ai_usage_monitor.instrumentation.endpoints import NO_HOSTS, Endpoint, EndpointCache, host_and_port
from ai_usage_monitor.instrumentation.streams import AsyncStreamProxy, StreamProxy
from ai_usage_monitor.providers import (
    PROVIDER_AZURE,
    PROVIDER_DASHSCOPE,
    PROVIDER_DASHSCOPE_INTL,
    PROVIDER_HOSTS,
    PROVIDER_OPENAI,
    provider_for,
)
from ai_usage_monitor.recorder import get_recorder

try:  # private modules of the SDK: what ``with_raw_response`` / ``with_streaming_response`` calls return
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import APIResponse, AsyncAPIResponse

    _STREAMED_RESPONSES: tuple[type[Any], ...] = (APIResponse, AsyncAPIResponse)
except ImportError:  # pragma: no cover - depends on the installed SDK
    LegacyAPIResponse = None  # type: ignore[assignment,misc]
    _STREAMED_RESPONSES = ()

__all__ = [
    "PROVIDER_AZURE",
    "PROVIDER_DASHSCOPE",
    "PROVIDER_DASHSCOPE_INTL",
    "PROVIDER_HOSTS",
    "PROVIDER_OPENAI",
    "SOURCE",
    "ChatExtractor",
    "EmbeddingsExtractor",
    "Endpoint",
    "ResponsesExtractor",
    "caller_include_usage",
    "chat_completion_usage",
    "chat_finish_reasons",
    "chat_usage",
    "embeddings_usage",
    "endpoint_of",
    "failure_of",
    "observe_chat_chunk",
    "observe_response_event",
    "provider_for",
    "raw_response_requested",
    "response_failure",
    "response_usage",
    "responses_finish_reasons",
    "responses_usage",
]

#: the ``source`` of every record written by this instrumentation
SOURCE = "openai"

#: providers whose chat API takes DashScope's ``enable_thinking`` switch in ``extra_body``
_ENABLE_THINKING_PROVIDERS = frozenset({PROVIDER_DASHSCOPE, PROVIDER_DASHSCOPE_INTL, "siliconflow"})
#: header the SDK's ``with_raw_response`` / ``with_streaming_response`` wrappers add to a call
_RAW_RESPONSE_HEADER = "x-stainless-raw-response"
#: Responses API stream events that carry the final response with its usage
_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def endpoint_of(client: Any, hosts: Mapping[str, str] = NO_HOSTS) -> Endpoint:
    """Provider, host and port of an ``OpenAI``-style client, from its ``base_url`` (httpx or httpx2 URL)."""
    url = getattr(client, "base_url", None)
    host, port = host_and_port(url)
    if isinstance(client, (AzureOpenAI, AsyncAzureOpenAI)):
        return Endpoint(PROVIDER_AZURE, host, port)
    return Endpoint(provider_for(host or "", str(getattr(url, "path", "") or ""), hosts), host, port)


_endpoints = EndpointCache(endpoint_of)


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model or of its JSON dict (any mapping); ``None`` when absent.

    Attributes first: SDK models are the usual case, and no field read here is named like a mapping
    method. A mapping's keys are read only when it has no such attribute.
    """
    value = getattr(obj, name, None)
    if value is None and obj is not None:
        kind = type(obj)
        mapping = _mapping_types.get(kind)
        if mapping is None:  # the ABC check, once per type rather than for every absent field
            mapping = _mapping_types[kind] = issubclass(kind, Mapping)
        if mapping:
            return obj.get(name)
    return value


#: whether a type is a Mapping, by type
_mapping_types: dict[type[Any], bool] = {}


def _count(obj: Any, name: str) -> int | None:
    value = _get(obj, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(obj: Any, name: str) -> str | None:
    value = _get(obj, name)
    return value if isinstance(value, str) and value else None


def _response_id(obj: Any) -> str | None:
    """The completion / response id, else the HTTP request id the SDK attaches as ``_request_id``."""
    return _text(obj, "id") or _text(obj, "_request_id")


def chat_usage(usage: Any) -> Usage:
    """Token counts of a chat ``CompletionUsage`` (either details object, or any count, may be missing)."""
    return Usage(
        input_tokens=_count(usage, "prompt_tokens"),
        output_tokens=_count(usage, "completion_tokens"),
        total_tokens=_count(usage, "total_tokens"),
        cached_tokens=_count(_get(usage, "prompt_tokens_details"), "cached_tokens"),
        reasoning_tokens=_count(_get(usage, "completion_tokens_details"), "reasoning_tokens"),
    )


def responses_usage(usage: Any) -> Usage:
    """Token counts of a Responses API ``ResponseUsage``."""
    return Usage(
        input_tokens=_count(usage, "input_tokens"),
        output_tokens=_count(usage, "output_tokens"),
        total_tokens=_count(usage, "total_tokens"),
        cached_tokens=_count(_get(usage, "input_tokens_details"), "cached_tokens"),
        reasoning_tokens=_count(_get(usage, "output_tokens_details"), "reasoning_tokens"),
    )


def _merge_tokens(target: Usage, tokens: Usage) -> None:
    target.input_tokens = tokens.input_tokens
    target.output_tokens = tokens.output_tokens
    target.total_tokens = tokens.total_tokens
    target.cached_tokens = tokens.cached_tokens
    target.reasoning_tokens = tokens.reasoning_tokens


def chat_finish_reasons(choices: Any) -> tuple[str, ...]:
    """The finish reasons of a completion's (or a chunk's) choices that have one."""
    if not choices:
        return ()
    reasons = [_text(choice, "finish_reason") for choice in choices]
    return tuple([reason for reason in reasons if reason])


def chat_completion_usage(completion: Any) -> Usage:
    """Usage, model, id and finish reasons of a ``ChatCompletion`` (or its JSON dict)."""
    usage = chat_usage(_get(completion, "usage"))
    usage.response_model = _text(completion, "model")
    usage.request_id = _response_id(completion)
    usage.finish_reasons = chat_finish_reasons(_get(completion, "choices"))
    return usage


def embeddings_usage(response: Any) -> Usage:
    """Usage of a ``CreateEmbeddingResponse``: input tokens only, output 0."""
    tokens = _get(response, "usage")
    input_tokens = _count(tokens, "prompt_tokens")
    return Usage(
        input_tokens=input_tokens,
        output_tokens=0 if input_tokens is not None else None,
        total_tokens=_count(tokens, "total_tokens"),
        response_model=_text(response, "model"),
        request_id=_response_id(response),
    )


def responses_finish_reasons(response: Any) -> tuple[str, ...]:
    """Why a Responses API response ended: the incomplete reason (``max_output_tokens``) or its status."""
    reason = _text(_get(response, "incomplete_details"), "reason") or _text(response, "status")
    return (reason,) if reason else ()


def response_usage(response: Any) -> Usage:
    """Usage, model, id and finish reasons of a Responses API ``Response``."""
    usage = responses_usage(_get(response, "usage"))
    usage.response_model = _text(response, "model")
    usage.request_id = _response_id(response)
    usage.finish_reasons = responses_finish_reasons(response)
    return usage


def response_failure(response: Any) -> Failure | None:
    """The failure a Responses API response reports with ``status == "failed"``, else ``None``."""
    if _text(response, "status") != "failed":
        return None
    error = _get(response, "error")
    return Failure(_text(error, "code") or "response.failed", _text(error, "message") or "response failed")


def failure_of(exc: BaseException) -> Failure:
    """An exception raised by the SDK (``RateLimitError``, ``APIConnectionError``, ...) as a failure."""
    return Failure(type(exc).__name__, str(exc) or type(exc).__name__)


def observe_chat_chunk(call: CallInfo, state: StreamState, chunk: Any) -> bool:
    """Fold a ``ChatCompletionChunk`` into ``state``; ``True`` for the usage-only chunk the monitor added."""
    usage = state.usage
    if usage.response_model is None:
        usage.response_model = _text(chunk, "model")
    if usage.request_id is None:
        usage.request_id = _response_id(chunk)
    choices = _get(chunk, "choices")
    if choices:
        for choice in choices:
            reason = _text(choice, "finish_reason")
            if reason:
                usage.finish_reasons += (reason,)
    tokens = _get(chunk, "usage")
    if tokens is None:
        return False
    _merge_tokens(usage, chat_usage(tokens))
    return call.hide_usage_chunk and not choices


def observe_response_event(state: StreamState, event: Any) -> None:
    """Fold one Responses API stream event into ``state``: the final response carries the usage."""
    kind = _text(event, "type")
    if kind == "error":
        state.failure = Failure(_text(event, "code") or "error", _text(event, "message") or "stream error")
        return
    response = _get(event, "response")
    if response is None:
        return
    usage = state.usage
    usage.response_model = _text(response, "model") or usage.response_model
    usage.request_id = _response_id(response) or usage.request_id
    if kind in _FINAL_RESPONSE_EVENTS:
        _merge_tokens(usage, responses_usage(_get(response, "usage")))
        usage.finish_reasons = responses_finish_reasons(response)
        state.failure = response_failure(response) or state.failure


def raw_response_requested(kwargs: Mapping[str, Any]) -> bool:
    """Whether the call comes through ``with_raw_response`` / ``with_streaming_response``."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, Mapping) and any(
        isinstance(key, str) and key.lower() == _RAW_RESPONSE_HEADER for key in headers
    )


def caller_include_usage(kwargs: Mapping[str, Any]) -> bool | None:
    """The caller's own ``stream_options.include_usage`` (also via ``extra_body``), ``None`` if unsaid."""
    extra_body = kwargs.get("extra_body")
    if isinstance(extra_body, Mapping) and "stream_options" in extra_body:
        options = extra_body["stream_options"]
        return bool(options.get("include_usage")) if isinstance(options, Mapping) else False
    options = kwargs.get("stream_options")
    if isinstance(options, Mapping) and "include_usage" in options:
        return bool(options["include_usage"])
    return None


def _request_model(kwargs: Mapping[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) and model else None


class _OpenAIExtractor:
    """What every OpenAI API family shares: endpoint, model, stream flag, errors and stream proxies."""

    operation: str = "chat"

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        client = getattr(instance, "_client", None)
        endpoint = _endpoints.get(client, get_recorder().settings.provider_hosts)
        return CallInfo(  # by position (provider, operation, request model, source, stream, address, port)
            endpoint.provider,
            self.operation,
            _request_model(kwargs),
            SOURCE,
            bool(kwargs.get("stream")),  # the SDK's ``omit`` / ``NOT_GIVEN`` sentinels are falsy
            endpoint.address,
            endpoint.port,
        )

    def is_stream(self, call: CallInfo, result: Any) -> bool:
        return isinstance(result, (Stream, AsyncStream))

    def response(self, call: CallInfo, result: Any) -> tuple[Usage, Failure | None]:
        if LegacyAPIResponse is not None and isinstance(result, LegacyAPIResponse):
            # with_raw_response: a non-stream body is already in memory (read its JSON, leaving the
            # caller's ``parse()`` untouched); a stream's body is the caller's to read
            if call.stream:
                return Usage(), None
            result = result.http_response.json()
        elif isinstance(result, _STREAMED_RESPONSES):
            return Usage(), None  # with_streaming_response: the body is unread and the caller's
        return self.read(result), self.read_failure(result)

    def read(self, result: Any) -> Usage:
        raise NotImplementedError

    def read_failure(self, result: Any) -> Failure | None:
        return None

    def observe_chunk(self, call: CallInfo, state: StreamState, chunk: Any) -> bool:
        return False

    def failure(self, exc: BaseException) -> Failure:
        return failure_of(exc)

    def wrap_stream(self, result: Any, tracker: CallTracker) -> Any:
        if isinstance(result, AsyncStream):
            return AsyncStreamProxy(result, tracker)
        return StreamProxy(result, tracker)


class ChatExtractor(_OpenAIExtractor):
    """``chat.completions.create`` / ``.parse`` (sync and async); ``.stream()`` goes through ``create``."""

    operation = "chat"

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        call = super().request(instance, args, kwargs)
        extra_body = kwargs.get("extra_body")
        call.thinking = (
            call.provider in _ENABLE_THINKING_PROVIDERS and _get(extra_body, "enable_thinking") is True
        )
        if (
            call.stream
            and call.provider != PROVIDER_AZURE
            and caller_include_usage(kwargs) is None
            and not raw_response_requested(kwargs)
            and get_recorder().settings.stream_usage
        ):
            options = kwargs.get("stream_options")
            given = dict(options) if isinstance(options, Mapping) else {}
            kwargs["stream_options"] = {**given, "include_usage": True}
            call.hide_usage_chunk = True
        return call

    def read(self, result: Any) -> Usage:
        return chat_completion_usage(result)

    observe_chunk = staticmethod(observe_chat_chunk)


class EmbeddingsExtractor(_OpenAIExtractor):
    """``embeddings.create`` (sync and async)."""

    operation = "embeddings"

    def read(self, result: Any) -> Usage:
        return embeddings_usage(result)


class ResponsesExtractor(_OpenAIExtractor):
    """``responses.create`` / ``.parse`` (sync and async); usage of a stream is in ``response.completed``."""

    operation = "chat"

    def read(self, result: Any) -> Usage:
        return response_usage(result)

    def read_failure(self, result: Any) -> Failure | None:
        return response_failure(result)

    def observe_chunk(self, call: CallInfo, state: StreamState, chunk: Any) -> bool:
        observe_response_event(state, chunk)
        return False
