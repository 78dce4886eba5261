"""Reading the native DashScope SDK: request facts (model, stream, thinking, server) and usage from its
responses, which return errors instead of raising and repeat CUMULATIVE usage in every stream chunk.

The module-level functions are pure (SDK objects in, plain data out); the extractor classes plug them
into the shared wrapper core. Nothing here imports ``dashscope``: the SDK is read from ``sys.modules``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from contextlib import suppress
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ai_usage_monitor.instrumentation.core import CallInfo, CallTracker, Failure, StreamState, Usage
from ai_usage_monitor.instrumentation.endpoints import DEFAULT_PORTS
from ai_usage_monitor.instrumentation.fields import count, field
from ai_usage_monitor.instrumentation.streams import wrap_async_generator, wrap_generator
from ai_usage_monitor.providers import PROVIDER_DASHSCOPE, PROVIDER_DASHSCOPE_INTL, PROVIDER_HOSTS

__all__ = [
    "DEFAULT_BASE_URL",
    "INTL_PROVIDER",
    "PROVIDER",
    "ApplicationExtractor",
    "DashScopeExtractor",
    "EmbeddingExtractor",
    "GenerationExtractor",
    "application_model",
    "application_usage",
    "argument",
    "embedding_usage",
    "field",
    "finish_reasons",
    "generation_usage",
    "merge_chunk_usage",
    "provider_of",
    "response_failure",
    "server_of",
    "wants_thinking",
]

PROVIDER = PROVIDER_DASHSCOPE
#: Model Studio's international (Singapore) endpoint: its own provider, priced from its USD list.
INTL_PROVIDER = PROVIDER_DASHSCOPE_INTL
#: What the SDK calls when ``dashscope.base_http_api_url`` is unset (mainland China endpoint).
DEFAULT_BASE_URL = "https://dashscope.aliyuncs.com/api/v1"
#: DashScope streams say ``"null"`` (a string) as the finish reason of every chunk but the last.
_NO_REASON = frozenset({"", "null"})
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "total_tokens", "cached_tokens", "reasoning_tokens")


def _text(value: Any) -> str | None:
    return str(value) if value else None


def argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str, position: int = 0) -> Any:
    """A call argument that may be passed by position or by keyword (``model``, ``app_id``)."""
    return args[position] if len(args) > position else kwargs.get(name)


@lru_cache(maxsize=64)
def server_of(url: str) -> tuple[str | None, int | None]:
    """``server.address`` and ``server.port`` of a base URL (the scheme's default port when none)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname, port or DEFAULT_PORTS.get(parts.scheme)


def provider_of(address: str | None) -> str:
    """The provider a call to this host is billed by: ``dashscope-intl`` for the international endpoint."""
    return INTL_PROVIDER if address and PROVIDER_HOSTS.get(address) == INTL_PROVIDER else PROVIDER


def _current_base_url(kwargs: Mapping[str, Any]) -> str:
    """The base URL this call goes to: a per-call ``base_address``, else the SDK's global, read now."""
    url = kwargs.get("base_address")
    if not url:
        sdk = sys.modules.get("dashscope")
        url = getattr(sdk, "base_http_api_url", None) if sdk is not None else None
    return str(url) if url else DEFAULT_BASE_URL


def wants_thinking(kwargs: Mapping[str, Any]) -> bool:
    """Thinking mode asked for with ``enable_thinking=True``, directly or inside ``parameters``."""
    if kwargs.get("enable_thinking"):
        return True
    parameters = kwargs.get("parameters")
    return isinstance(parameters, Mapping) and bool(parameters.get("enable_thinking"))


def response_failure(response: Any) -> Failure | None:
    """The error a response reports (DashScope returns them): ``None`` when ``status_code`` is 200.

    ``status_code`` is an ``HTTPStatus`` on success and on a mid-stream error, a plain int otherwise.
    """
    status = field(response, "status_code")
    if status is None:
        return None
    with suppress(TypeError, ValueError):
        status = int(status)
    if status == 200:
        return None
    code = _text(field(response, "code")) or f"HTTP {status}"
    return Failure(error_type=code, message=_text(field(response, "message")) or code)


def finish_reasons(output: Any) -> tuple[str, ...]:
    """Finish reasons of ``output.choices`` (message format) or ``output.finish_reason`` (text format)."""
    choices = field(output, "choices")
    reasons = [field(c, "finish_reason") for c in choices] if choices else [field(output, "finish_reason")]
    return tuple([r for r in reasons if isinstance(r, str) and r not in _NO_REASON])


def generation_usage(response: Any) -> Usage:
    """Usage of a Generation / MultiModalConversation response (``None`` tokens when it has none)."""
    usage = field(response, "usage")
    inp, out = count(field(usage, "input_tokens")), count(field(usage, "output_tokens"))
    total = count(field(usage, "total_tokens"))
    if total is None and not inp and not out:
        # No usage sent: the SDK's GenerationUsage then shows 0 and 0, which would be a fake 0.
        inp = out = None
    return Usage(
        input_tokens=inp,
        output_tokens=out,
        total_tokens=total,
        cached_tokens=count(field(field(usage, "prompt_tokens_details"), "cached_tokens")),
        reasoning_tokens=count(field(field(usage, "output_tokens_details"), "reasoning_tokens")),
        request_id=_text(field(response, "request_id")),
        finish_reasons=finish_reasons(field(response, "output")),
    )


def embedding_usage(response: Any) -> Usage:
    """Usage of a TextEmbedding response: ``usage["total_tokens"]`` is all input."""
    total = count(field(field(response, "usage"), "total_tokens"))
    return Usage(
        input_tokens=total,
        output_tokens=0 if total is not None else None,
        total_tokens=total,
        request_id=_text(field(response, "request_id")),
    )


def _sum(values: Iterable[int | None]) -> int | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def application_model(model_ids: Iterable[Any]) -> str | None:
    """The record's model for an Application call: its one model, or the distinct ids joined with ``+``.

    An app that ran several models is not priced as if one had done all the work: the joined name is
    unpriced (visibly so) unless a price is registered for it, while its token counts stay exact.
    """
    distinct = list(dict.fromkeys(str(model_id) for model_id in model_ids if model_id))
    return "+".join(distinct) if distinct else None


def application_usage(response: Any) -> Usage:
    """Usage of an Application (agent) response: the sum over ``usage.models[i]``.

    Apps that report a single top-level usage instead are read like a Generation response.
    """
    usage = field(response, "usage")
    models = field(usage, "models")
    if not models:
        plain = generation_usage(response)
        plain.finish_reasons = ()
        return plain
    inputs = [count(field(m, "input_tokens")) for m in models]
    outputs = [count(field(m, "output_tokens")) for m in models]
    return Usage(
        input_tokens=_sum(inputs),
        output_tokens=_sum(outputs),
        cached_tokens=_sum(count(field(field(m, "prompt_tokens_details"), "cached_tokens")) for m in models),
        reasoning_tokens=_sum(
            count(field(field(m, "output_tokens_details"), "reasoning_tokens")) for m in models
        ),
        response_model=application_model(field(m, "model_id") for m in models),
        request_id=_text(field(response, "request_id")),
        finish_reasons=finish_reasons(field(response, "output")),
    )


def _has_tokens(usage: Usage) -> bool:
    # The SDK turns a chunk without usage into zero counts: those never replace real ones.
    return bool(usage.input_tokens or usage.output_tokens or usage.total_tokens)


def merge_chunk_usage(seen: Usage, chunk: Usage) -> Usage:
    """Fold one stream chunk into what the stream showed so far.

    DashScope repeats the CUMULATIVE usage in every chunk: the latest chunk that carries tokens replaces
    the previous figures (never added to them). Finish reasons and the request id are kept once seen.
    """
    merged = chunk if _has_tokens(chunk) else Usage(**{name: getattr(seen, name) for name in _TOKEN_FIELDS})
    merged.request_id = chunk.request_id or seen.request_id
    merged.finish_reasons = chunk.finish_reasons or seen.finish_reasons
    if merged.response_model is None:
        merged.response_model = seen.response_model
    return merged


class DashScopeExtractor:
    """What every native DashScope target shares; a family sets its operation and how to read usage."""

    operation: ClassVar[str] = "chat"
    #: the first parameter of ``call``: the requested model, or (Application) the app id
    first_parameter: ClassVar[str] = "model"
    #: whether ``stream=True`` makes this family stream (TextEmbedding drops the argument)
    streams: ClassVar[bool] = True

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        address, port = server_of(_current_base_url(kwargs))
        first = argument(args, kwargs, self.first_parameter)
        return CallInfo(
            provider=provider_of(address),
            operation=self.operation,
            request_model=str(first) if first else None,
            source=PROVIDER,
            stream=self.streams and bool(kwargs.get("stream")),
            server_address=address,
            server_port=port,
            thinking=wants_thinking(kwargs),
        )

    def read_usage(self, response: Any) -> Usage:
        return generation_usage(response)

    def is_stream(self, call: CallInfo, result: Any) -> bool:
        # Responses are dicts (iterable): a stream is a (sync or async) generator.
        return not isinstance(result, Mapping) and (
            hasattr(result, "__next__") or hasattr(result, "__anext__")
        )

    def response(self, call: CallInfo, result: Any) -> tuple[Usage, Failure | None]:
        usage = self.read_usage(result)
        if usage.reasoning_tokens:
            call.thinking = True
        return usage, response_failure(result)

    def observe_chunk(self, call: CallInfo, state: StreamState, chunk: Any) -> bool:
        usage = merge_chunk_usage(state.usage, self.read_usage(chunk))
        if usage.reasoning_tokens:
            call.thinking = True
        state.usage = usage
        # A mid-stream error arrives as a last chunk with an error status; later good chunks clear it.
        state.failure = response_failure(chunk)
        return False

    def failure(self, exc: BaseException) -> Failure:
        return Failure(type(exc).__name__, str(exc))

    def wrap_stream(self, result: Any, tracker: CallTracker) -> Any:
        if hasattr(result, "__anext__"):
            return wrap_async_generator(result, tracker)
        return wrap_generator(result, tracker)


class GenerationExtractor(DashScopeExtractor):
    """``Generation`` / ``MultiModalConversation`` and their ``Aio`` twins: ``chat``."""


class EmbeddingExtractor(DashScopeExtractor):
    """``TextEmbedding``: ``embeddings``, input tokens only, never a stream."""

    operation = "embeddings"
    streams = False

    def read_usage(self, response: Any) -> Usage:
        return embedding_usage(response)


class ApplicationExtractor(DashScopeExtractor):
    """``Application`` (Model Studio agents and workflows): ``invoke_agent``; the model comes from usage."""

    operation = "invoke_agent"
    first_parameter = "app_id"

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        call = super().request(instance, args, kwargs)
        call.agent_id, call.request_model = call.request_model, None
        return call

    def read_usage(self, response: Any) -> Usage:
        return application_usage(response)
