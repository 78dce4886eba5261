"""The extractors of the Anthropic SDK's ``messages.create`` and ``messages.stream``: the request's
provider, model and endpoint, errors, and stream proxies; responses are read by :mod:`.readers`.

Raw responses (``with_raw_response`` / ``with_streaming_response``) are the caller's to read: their
records have unknown usage (``usage_missing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anthropic import APIStatusError, AsyncStream, Stream

from ai_usage_monitor.instrumentation.anthropic.helpers import manager_proxy
from ai_usage_monitor.instrumentation.anthropic.readers import (
    field,
    message_usage,
    observe_message_event,
    text,
)
from ai_usage_monitor.instrumentation.core import CallInfo, CallTracker, Failure, StreamState, Usage
from ai_usage_monitor.instrumentation.endpoints import Endpoint, EndpointCache, host_and_port
from ai_usage_monitor.instrumentation.streams import AsyncStreamProxy, StreamProxy
from ai_usage_monitor.providers import PROVIDER_HOSTS

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
    "failure_of",
    "provider_of",
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


def provider_of(client: Any, host: str | None = None) -> str:
    """``anthropic``; the cloud's provider name for the Bedrock and Vertex AI clients; the provider of a
    known host serving an Anthropic-compatible API (DeepSeek, Moonshot, Zhipu, DashScope, ...)."""
    cloud = _CLOUD_PROVIDERS.get(type(client).__name__)
    if cloud is not None:
        return cloud
    return PROVIDER_HOSTS.get(host.lower().rstrip("."), PROVIDER_ANTHROPIC) if host else PROVIDER_ANTHROPIC


def failure_of(exc: BaseException) -> Failure:
    """An SDK exception as a failure: its class (``RateLimitError``, ``OverloadedError``, ...), or for a bare
    ``APIStatusError`` (an ``error`` event mid-stream, answered with HTTP 200) Anthropic's error type."""
    error_type = type(exc).__name__
    if type(exc) is APIStatusError:
        error_type = text(field(getattr(exc, "body", None), "error"), "type") or error_type
    return Failure(error_type, str(exc) or type(exc).__name__)


def _request_model(kwargs: dict[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) and model else None


def _find_endpoint(client: Any, _hosts: Mapping[str, str]) -> Endpoint:
    host, port = host_and_port(getattr(client, "base_url", None))
    return Endpoint(provider_of(client, host), host, port)


#: the provider of an Anthropic client, from its class and host (``provider_hosts`` names OpenAI-style hosts)
_endpoint = EndpointCache(_find_endpoint).get


class MessagesExtractor:
    """``messages.create`` / ``messages.parse`` (sync and async), streamed with ``stream=True`` or not."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        endpoint = _endpoint(getattr(instance, "_client", None))
        return CallInfo(
            endpoint.provider,
            "chat",
            _request_model(kwargs),
            SOURCE,
            kwargs.get("stream") is True,
            endpoint.address,
            endpoint.port,
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
