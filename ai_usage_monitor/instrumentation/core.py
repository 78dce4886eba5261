"""The one generic wrapper core every provider shares: time the call, open a span, call the SDK exactly
once, turn what came back (a response, an error, a stream) into one UsageRecord.

Providers plug in an :class:`Extractor`: small pure functions that read request attributes and usage
from SDK objects. Nothing here raises into the user's code: the monitor's own failures go through
:func:`handle_internal_error`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NoOpTracer, ProxyTracer, SpanKind, Status, StatusCode, Tracer, TracerProvider

from ai_usage_monitor.budgets.exceeded import BudgetExceeded
from ai_usage_monitor.context import current_context, current_frame
from ai_usage_monitor.instrumentation import attributes as attr
from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.recorder import get_recorder
from ai_usage_monitor.records import UsageRecord

if TYPE_CHECKING:
    from ai_usage_monitor.budgets.guard import BudgetGuard, Ticket

__all__ = [
    "CallInfo",
    "CallTracker",
    "Extractor",
    "Failure",
    "StreamState",
    "Usage",
    "await_inside",
    "call_inside",
    "make_async_wrapper",
    "make_sync_wrapper",
    "use_tracer_provider",
]

_TRACER_NAME = "ai_usage_monitor"
#: UsageRecord's leading fields, passed by position when a call finishes: matching two dozen keyword
#: arguments costs more there than building the rest of the record. Checked against the dataclass here.
_POSITIONAL = (
    "timestamp",
    "user_id",
    "anchor_id",
    "session_id",
    "model",
    "function",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "duration_ms",
    "success",
    "error_msg",
    "provider",
    "operation",
    "cached_tokens",
    "reasoning_tokens",
)
if tuple(f.name for f in fields(UsageRecord))[: len(_POSITIONAL)] != _POSITIONAL:  # pragma: no cover
    raise ImportError("UsageRecord's field order changed: update _POSITIONAL and CallTracker._finish")
_tracer = trace.get_tracer(_TRACER_NAME)
#: True while an instrumented SDK call runs: an SDK method calling another patched one records once.
_inside_call: ContextVar[bool] = ContextVar("ai_usage_inside_call", default=False)


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Send spans to ``provider`` (``None``: the app's global provider, even one set later)."""
    global _tracer
    _tracer = provider.get_tracer(_TRACER_NAME) if provider is not None else trace.get_tracer(_TRACER_NAME)


@dataclass(slots=True)
class CallInfo:
    """What the request says, read before the call by the provider's extractor."""

    provider: str
    operation: str
    request_model: str | None
    source: str
    stream: bool = False
    server_address: str | None = None
    server_port: int | None = None
    #: thinking mode asked for (DashScope ``enable_thinking``): output billed at the thinking price
    thinking: bool = False
    #: the monitor added ``stream_options.include_usage``: hide the usage-only chunk from the caller
    hide_usage_chunk: bool = False
    #: the agent / app invoked (``invoke_agent``, e.g. a DashScope Application id): no model is requested
    agent_id: str | None = None


@dataclass(slots=True)
class Usage:
    """What the response says. Token counts are ``None`` when the provider did not report them."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    response_model: str | None = None
    request_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    #: input tokens written to a prompt cache (Anthropic cache creation), included in ``input_tokens``
    cache_write_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed call: an exception's class name or a provider's error code, and its message."""

    error_type: str
    message: str


@dataclass(slots=True)
class StreamState:
    """What a stream has shown so far; its extractor updates it chunk by chunk."""

    usage: Usage = field(default_factory=Usage)
    failure: Failure | None = None
    chunks: int = 0


class Extractor(Protocol):
    """Per-target pure functions; each gets the SDK objects and returns plain data."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallInfo:
        """Read the request; may adjust ``kwargs`` in place (e.g. ask a stream for its usage)."""
        ...

    def is_stream(self, call: CallInfo, result: Any) -> bool: ...

    def response(self, call: CallInfo, result: Any) -> tuple[Usage, Failure | None]:
        """Usage of a complete response, and the failure it reports (DashScope returns errors)."""
        ...

    def observe_chunk(self, call: CallInfo, state: StreamState, chunk: Any) -> bool:
        """Fold one stream chunk into ``state``; ``True`` hides the chunk from the caller."""
        ...

    def failure(self, exc: BaseException) -> Failure: ...

    def wrap_stream(self, result: Any, tracker: CallTracker) -> Any:
        """Return a proxy of the stream ``result`` that finishes ``tracker`` when the stream ends."""
        ...


class CallTracker:
    """One call in flight: started before the SDK call, finished exactly once.

    Its span is created when the call finishes, back-dated to the call's start and given every attribute
    at once: one pass through the tracing SDK rather than a start, many setters and an end, and no
    tracing work at all when no tracing SDK is configured.
    """

    __slots__ = (
        "call",
        "ctx",
        "extractor",
        "fallback_model",
        "finished",
        "parent",
        "recorder",
        "start_ns",
        "start_perf",
        "state",
        "ticket",
        "tracer",
    )

    def __init__(self, call: CallInfo, extractor: Extractor) -> None:
        self.call = call
        self.extractor = extractor
        self.ctx = current_context()
        frame = current_frame()
        self.fallback_model = None
        if frame is not None:
            frame.count()
            self.fallback_model = frame.model
        self.finished = False
        self.state: StreamState | None = None
        self.tracer = _live_tracer()
        #: the recorder of the call (its ``guard`` when budgets are configured), and what the guard holds
        self.recorder = get_recorder()
        self.ticket: Ticket | None = None
        #: the OpenTelemetry context the span's parent comes from, kept when the call ends elsewhere
        self.parent: Context | None = None
        self.start_ns = time.time_ns()
        self.start_perf = time.perf_counter()

    def keep_context(self) -> None:
        """The call goes on past its wrapper (a stream): parent its span on the caller's current span."""
        if self.tracer is not None:
            self.parent = otel_context.get_current()

    def stream_state(self) -> StreamState:
        if self.state is None:
            self.state = StreamState()
        return self.state

    def finish_stream(self) -> None:
        """End of a stream (exhausted, failed, closed or collected): record what it showed."""
        state = self.stream_state()
        self.finish(state.usage, state.failure)

    def finish(self, usage: Usage | None, failure: Failure | None) -> None:
        """Build, price and emit the record, end the span; a second call does nothing."""
        if self.finished:
            return
        self.finished = True
        try:
            self._finish(usage or Usage(), failure)
        except Exception as exc:
            handle_internal_error("finishing a call record", exc)

    def _finish(self, usage: Usage, failure: Failure | None) -> None:
        duration_ms = (time.perf_counter() - self.start_perf) * 1000.0
        call, ctx = self.call, self.ctx
        inp, out = usage.input_tokens, usage.output_tokens
        total = usage.total_tokens
        if total is None and inp is not None and out is not None:
            total = inp + out
        # one name per call, success or failure alike: the requested one; the answered one is a detail
        answered = usage.response_model
        model = call.request_model or answered or self.fallback_model or "unknown"
        cached, reasoning = usage.cached_tokens, usage.reasoning_tokens
        record = UsageRecord(  # the fields of _POSITIONAL, in order
            self.start_ns / 1e9,
            ctx.user_id,
            ctx.anchor_id,
            ctx.session_id,
            model,
            ctx.function,
            inp,
            out,
            total,
            0.0,  # cost, priced below
            duration_ms,
            failure is None,
            failure.message if failure else None,
            call.provider,
            call.operation,
            cached if cached is not None or inp is None else 0,
            reasoning if reasoning is not None or out is None else 0,
            stream=call.stream,
            request_id=usage.request_id,
            source=call.source,
            tags=dict(ctx.tags) if ctx.tags else {},
            error_type=failure.error_type if failure else None,
            usage_missing=inp is None or out is None,
            cache_write_tokens=usage.cache_write_tokens,
            response_model=answered if answered != model else None,
        )
        recorder = self.recorder
        # the record is the source of truth: written all the same if pricing or tracing fails
        try:
            recorder.price(record, thinking=call.thinking)
        except Exception as exc:
            handle_internal_error("pricing", exc)
        if self.tracer is not None:
            try:
                self._trace(self.tracer, record, usage, failure, recorder.settings.otel_cost_attributes)
            except Exception as exc:
                handle_internal_error("tracing a call", exc)
        ticket, guard = self.ticket, recorder.guard
        if ticket is not None and guard is not None:
            self.ticket = None
            try:
                guard.after(ticket, record)
            except Exception as exc:
                handle_internal_error("settling budgets", exc)
        recorder.emit(record)

    def _trace(
        self,
        tracer: Tracer,
        record: UsageRecord,
        usage: Usage,
        failure: Failure | None,
        cost_attributes: bool,
    ) -> None:
        """The call's span, from its start until now with all its attributes; its ids go into the record.

        ``cost_attributes``: also the proposed ``gen_ai.usage.cost.*`` attributes (priced calls only).
        """
        call = self.call
        attributes: dict[str, Any] = {
            attr.GEN_AI_OPERATION_NAME: call.operation,
            attr.GEN_AI_PROVIDER_NAME: call.provider,
            attr.GEN_AI_REQUEST_MODEL: call.request_model or None,
            attr.GEN_AI_AGENT_ID: call.agent_id or None,
            attr.GEN_AI_REQUEST_STREAM: call.stream,
            attr.SERVER_ADDRESS: call.server_address or None,
            attr.SERVER_PORT: call.server_port or None,
            attr.GEN_AI_RESPONSE_MODEL: usage.response_model,
            attr.GEN_AI_RESPONSE_ID: usage.request_id,
            attr.GEN_AI_RESPONSE_FINISH_REASONS: list(usage.finish_reasons) if usage.finish_reasons else None,
            attr.GEN_AI_USAGE_INPUT_TOKENS: record.input_tokens,
            attr.GEN_AI_USAGE_OUTPUT_TOKENS: record.output_tokens,
            attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cached_tokens,
            attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write_tokens,
            attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning_tokens,
            attr.ERROR_TYPE: failure.error_type if failure else None,
            attr.AI_USAGE_COST: record.cost,
            attr.AI_USAGE_CURRENCY: record.currency,
            attr.AI_USAGE_FUNCTION: record.function,
            attr.AI_USAGE_USER_ID: record.user_id,
            attr.AI_USAGE_ANCHOR_ID: record.anchor_id,
            attr.AI_USAGE_SESSION_ID: record.session_id,
        }
        if cost_attributes and record.priced:
            attributes[attr.GEN_AI_USAGE_COST_AMOUNT] = record.cost
            attributes[attr.GEN_AI_USAGE_COST_CURRENCY] = record.currency
            attributes[attr.GEN_AI_USAGE_COST_SOURCE] = attr.GEN_AI_USAGE_COST_SOURCE_LOCAL
        span = tracer.start_span(
            f"{call.operation} {call.request_model or call.agent_id or self.fallback_model or 'unknown'}",
            context=self.parent,
            kind=SpanKind.CLIENT,
            attributes={key: value for key, value in attributes.items() if value is not None},
            start_time=self.start_ns,
        )
        if not span.is_recording():
            return
        span_context = span.get_span_context()
        record.trace_id = format(span_context.trace_id, "032x")
        record.span_id = format(span_context.span_id, "016x")
        if failure is not None:
            span.set_status(Status(StatusCode.ERROR, failure.message))
        span.end()


def _live_tracer() -> Tracer | None:
    """The tracer spans go to, or ``None`` when nothing would record them (no tracing SDK configured)."""
    tracer = _tracer
    if type(tracer) is ProxyTracer:
        # the global provider's tracer once the app has set one (OpenTelemetry resolves and keeps it)
        tracer = getattr(tracer, "_tracer", tracer)
    return None if isinstance(tracer, NoOpTracer) else tracer


def _start(
    extractor: Extractor, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> CallTracker | None:
    try:
        return CallTracker(extractor.request(instance, args, kwargs), extractor)
    except Exception as exc:
        handle_internal_error(f"reading a request ({type(extractor).__name__})", exc)
        return None


def _check_budgets(
    tracker: CallTracker, guard: BudgetGuard, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Reserve the call on its budgets before it goes out; the positional arguments to call with.

    A refusal is recorded as a failed call and raised to the caller; the guard's own failures (e.g. an
    unreachable Redis) are the monitor's: the call goes out unguarded."""
    try:
        tracker.ticket, args = guard.before(tracker.call, tracker.ctx, tracker.fallback_model, args, kwargs)
    except BudgetExceeded as exc:
        tracker.finish(None, Failure("BudgetExceeded", str(exc)))
        raise
    except Exception as exc:
        handle_internal_error("checking budgets", exc)
    return args


def _on_exception(tracker: CallTracker, exc: BaseException) -> None:
    try:
        failure = tracker.extractor.failure(exc)
    except Exception as internal:
        handle_internal_error("reading an error", internal)
        failure = Failure(type(exc).__name__, str(exc))
    tracker.finish(None, failure)


def _on_result(tracker: CallTracker, result: Any) -> Any:
    extractor = tracker.extractor
    try:
        if extractor.is_stream(tracker.call, result):
            tracker.keep_context()
            return extractor.wrap_stream(result, tracker)
        usage, failure = extractor.response(tracker.call, result)
    except Exception as exc:
        handle_internal_error(f"reading a response ({type(extractor).__name__})", exc)
        tracker.finish(None, None)
        return result
    tracker.finish(usage, failure)
    return result


T = TypeVar("T")


def call_inside(tracker: CallTracker, invoke: Callable[[], T]) -> T:
    """Make ``tracker``'s SDK request when it starts after its wrapped method returned (a stream helper's
    ``__enter__``): a failure is recorded and re-raised, and instrumented calls inside record nothing."""
    token = _inside_call.set(True)
    try:
        return invoke()
    except BaseException as exc:
        _on_exception(tracker, exc)
        raise
    finally:
        _inside_call.reset(token)


async def await_inside(tracker: CallTracker, request: Awaitable[T]) -> T:
    """Async twin of :func:`call_inside`: await ``request`` (e.g. a stream helper's ``__aenter__()``)."""
    token = _inside_call.set(True)
    try:
        return await request
    except BaseException as exc:
        _on_exception(tracker, exc)
        raise
    finally:
        _inside_call.reset(token)


Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def make_sync_wrapper(extractor: Extractor) -> Wrapper:
    """A wrapt wrapper for a synchronous SDK method."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _inside_call.get():
            return wrapped(*args, **kwargs)
        tracker = _start(extractor, instance, args, kwargs)
        if tracker is None:
            return wrapped(*args, **kwargs)
        guard = tracker.recorder.guard
        if guard is not None:
            args = _check_budgets(tracker, guard, args, kwargs)
        token = _inside_call.set(True)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _on_exception(tracker, exc)
            raise
        finally:
            _inside_call.reset(token)
        return _on_result(tracker, result)

    return wrapper


def make_async_wrapper(extractor: Extractor) -> Wrapper:
    """A wrapt wrapper for a coroutine SDK method."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _inside_call.get():
            return await wrapped(*args, **kwargs)
        tracker = _start(extractor, instance, args, kwargs)
        if tracker is None:
            return await wrapped(*args, **kwargs)
        guard = tracker.recorder.guard
        if guard is not None:
            args = _check_budgets(tracker, guard, args, kwargs)
        token = _inside_call.set(True)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _on_exception(tracker, exc)
            raise
        finally:
            _inside_call.reset(token)
        return _on_result(tracker, result)

    return wrapper
