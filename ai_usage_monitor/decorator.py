"""``track_ai_usage(function, model)``: attribute the calls a function makes, and record it when nothing
instrumented did (e.g. a raw HTTP client), reading usage from what it returned. Never counts twice."""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ai_usage_monitor.context import (
    DecoratorFrame,
    UsageContext,
    attributed,
    carry_into_thread_pools,
    current_context,
    current_frame,
    pop_frame,
    push_frame,
    usage_context,
)
from ai_usage_monitor.instrumentation.anthropic.readers import anthropic_response_usage, observe_message_event
from ai_usage_monitor.instrumentation.core import Failure, StreamState, Usage

# the SDK-free readers the DashScope extractors use: SDK objects, dict-like usage and raw JSON alike
from ai_usage_monitor.instrumentation.dashscope.extractors import response_failure
from ai_usage_monitor.instrumentation.fields import count, field
from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.recorder import record_ai_usage

__all__ = ["track_ai_usage", "usage_from_response"]

F = TypeVar("F", bound=Callable[..., Any])

_ANTHROPIC_USAGE_EVENTS = frozenset({"message_start", "message_delta"})


def usage_from_response(response: Any) -> tuple[Usage | None, Failure | None]:
    """Usage of an OpenAI-, DashScope- or Anthropic-shaped response (object or dict); ``None`` when none."""
    anthropic_usage = anthropic_response_usage(response)
    if anthropic_usage is not None:
        return anthropic_usage, None
    failure = response_failure(response)
    usage = field(response, "usage")
    if usage is None:
        return None, failure
    inp = count(field(usage, "prompt_tokens"))
    out = count(field(usage, "completion_tokens"))
    cached = count(field(field(usage, "prompt_tokens_details"), "cached_tokens"))
    if inp is None:  # DashScope / Responses API naming
        inp = count(field(usage, "input_tokens"))
        out = count(field(usage, "output_tokens"))
        cached = count(field(field(usage, "input_tokens_details"), "cached_tokens")) or cached
    reasoning = count(field(field(usage, "completion_tokens_details"), "reasoning_tokens")) or count(
        field(field(usage, "output_tokens_details"), "reasoning_tokens")
    )
    if inp is None and out is None:
        return None, failure
    model = field(response, "model")
    return (
        Usage(
            input_tokens=inp,
            output_tokens=out if out is not None else 0,
            cached_tokens=cached or 0,
            reasoning_tokens=reasoning or 0,
            response_model=model if isinstance(model, str) else None,
            request_id=field(response, "request_id") or field(response, "id"),
        ),
        failure,
    )


class _Tracked:
    """One run of a decorated function: its frame, attribution, start, and the record it may owe."""

    __slots__ = ("anthropic", "context", "failure", "frame", "provider", "start_perf", "start_wall", "usage")

    def __init__(self, function: str, model: str | None, provider: str | None) -> None:
        self.frame = DecoratorFrame(function, model, parent=current_frame())
        self.context = current_context()
        self.provider = provider
        self.start_wall = time.time()
        self.start_perf = time.perf_counter()
        #: the newest usage (and failure) seen in the chunks of a decorated generator
        self.usage: Usage | None = None
        self.failure: Failure | None = None
        #: Anthropic stream events: input in ``message_start``, cumulative output in ``message_delta``
        self.anthropic: StreamState | None = None

    def see(self, chunk: Any) -> None:
        if field(chunk, "type") in _ANTHROPIC_USAGE_EVENTS:
            state = self.anthropic = self.anthropic or StreamState()
            observe_message_event(state, chunk)
            self.usage = state.usage
            return
        usage, failure = usage_from_response(chunk)
        self.usage = usage or self.usage
        self.failure = failure or self.failure

    def settle(self, usage: Usage | None, failure: Failure | None) -> None:
        """Owe one record unless a record was made inside: at once when the outcome shows a call (usage or
        a failure), else when the frame is released, so that a call still made on the function's behalf
        by a task or pool thread it started is recorded once, by the instrumentation."""
        frame = self.frame
        if frame.recorded or frame.pending is not None:
            return
        write = functools.partial(
            _write_record,
            function=frame.function,
            # grouped under the name the code asked for; the provider's answered name is a detail
            model=frame.model or (usage.response_model if usage else None) or "unknown",
            response_model=usage.response_model if usage else None,
            context=self.context,
            usage=usage or Usage(),
            failure=failure,
            provider=self.provider,
            start_wall=self.start_wall,
            duration_ms=(time.perf_counter() - self.start_perf) * 1000.0,
        )
        if usage is not None or failure is not None:
            write(count_on=frame.parent)
            frame.recorded += 1
        else:
            frame.pending = functools.partial(write, count_on=None)
            if frame.parent is not None:
                frame.parent.count()

    def settle_seen(self) -> None:
        self.settle(self.usage, self.failure)

    def settle_exception(self, exc: BaseException) -> None:
        self.settle(None, Failure(type(exc).__name__, str(exc) or type(exc).__name__))


def _write_record(
    *,
    function: str,
    model: str,
    response_model: str | None,
    context: UsageContext,
    usage: Usage,
    failure: Failure | None,
    provider: str | None,
    start_wall: float,
    duration_ms: float,
    count_on: DecoratorFrame | None,
) -> None:
    """The decorator's own record, attributed as the run was, counted for ``count_on`` and its parents."""
    try:
        with attributed(context, count_on):
            record_ai_usage(
                model=model,
                response_model=response_model,
                function=function,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                duration_ms=duration_ms,
                success=failure is None,
                error_msg=failure.message if failure else None,
                cached_tokens=usage.cached_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                provider=provider,
                timestamp=start_wall,
                request_id=usage.request_id,
                error_type=failure.error_type if failure else None,
                source="decorator",
            )
    except Exception as exc:
        handle_internal_error("track_ai_usage", exc)


def track_ai_usage(
    function: str, model: str | None = None, *, provider: str | None = None
) -> Callable[[F], F]:
    """Decorate a sync, async or generator function that makes one AI call (docs/architecture.md §5).

    Each call is recorded once: by the instrumented SDK calls inside (attributed to ``function``),
    else by the decorator from the usage in what the function returned or yielded.
    """
    carry_into_thread_pools()

    def decorate(func: F) -> F:
        context = usage_context(function=function)

        @contextlib.contextmanager
        def running() -> Iterator[_Tracked]:
            """The body runs attributed, with its frame pushed; a failure it raises is settled, and so is a
            generator closed before its end."""
            with context._fresh():
                run = _Tracked(function, model, provider)
                token = push_frame(run.frame)
                try:
                    yield run
                except Exception as exc:
                    run.settle_exception(exc)
                    raise
                except GeneratorExit:
                    run.settle_seen()
                    raise
                finally:
                    _pop(token)

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with running() as run:
                    async for chunk in func(*args, **kwargs):
                        run.see(chunk)
                        yield chunk
                run.settle_seen()

            return agen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with running() as run:
                    result = await func(*args, **kwargs)
                run.settle(*usage_from_response(result))
                return result

            return async_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with running() as run:
                    for chunk in func(*args, **kwargs):
                        run.see(chunk)
                        yield chunk
                run.settle_seen()

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with running() as run:
                result = func(*args, **kwargs)
            run.settle(*usage_from_response(result))
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _pop(token: Any) -> None:
    # a generator resumed in another context: the frame dies with that context
    with contextlib.suppress(ValueError):
        pop_frame(token)
