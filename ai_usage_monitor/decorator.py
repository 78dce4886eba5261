"""``track_ai_usage(function, model)``: attribute the calls a function makes, and record it when nothing
instrumented did (e.g. a raw HTTP client), reading usage from what it returned. Never counts twice."""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ai_usage_monitor.context import DecoratorFrame, pop_frame, push_frame, usage_context
from ai_usage_monitor.instrumentation.core import Failure, Usage

# the SDK-free readers the DashScope extractors use: SDK objects, dict-like usage and raw JSON alike
from ai_usage_monitor.instrumentation.dashscope.extractors import field, response_failure
from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.recorder import record_ai_usage

__all__ = ["track_ai_usage", "usage_from_response"]

F = TypeVar("F", bound=Callable[..., Any])


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from_response(response: Any) -> tuple[Usage | None, Failure | None]:
    """Usage of an OpenAI- or DashScope-shaped response (object or dict); ``None`` when it has none."""
    failure = response_failure(response)
    usage = field(response, "usage")
    if usage is None:
        return None, failure
    inp = _int(field(usage, "prompt_tokens"))
    out = _int(field(usage, "completion_tokens"))
    cached = _int(field(field(usage, "prompt_tokens_details"), "cached_tokens"))
    if inp is None:  # DashScope / Responses API naming
        inp = _int(field(usage, "input_tokens"))
        out = _int(field(usage, "output_tokens"))
        cached = _int(field(field(usage, "input_tokens_details"), "cached_tokens")) or cached
    reasoning = _int(field(field(usage, "completion_tokens_details"), "reasoning_tokens")) or _int(
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


class _LastUsage:
    """The newest usage (and failure) seen in the chunks of a decorated generator."""

    __slots__ = ("failure", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.failure: Failure | None = None

    def see(self, chunk: Any) -> None:
        usage, failure = usage_from_response(chunk)
        self.usage = usage or self.usage
        self.failure = failure or self.failure


class _Tracked:
    """One run of a decorated function: its frame, its start time, and the record it may owe."""

    __slots__ = ("frame", "start_perf", "start_wall")

    def __init__(self, function: str, model: str | None) -> None:
        self.frame = DecoratorFrame(function, model)
        self.start_wall = time.time()
        self.start_perf = time.perf_counter()

    def settle(self, usage: Usage | None, failure: Failure | None, provider: str | None) -> None:
        """Record the run unless an instrumented call inside already did."""
        if self.frame.recorded:
            return
        try:
            usage = usage or Usage()
            record_ai_usage(
                model=self.frame.model or usage.response_model or "unknown",
                response_model=usage.response_model,
                function=self.frame.function,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                duration_ms=(time.perf_counter() - self.start_perf) * 1000.0,
                success=failure is None,
                error_msg=failure.message if failure else None,
                cached_tokens=usage.cached_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                provider=provider,
                timestamp=self.start_wall,
                request_id=usage.request_id,
                error_type=failure.error_type if failure else None,
                source="decorator",
            )
        except Exception as exc:
            handle_internal_error("track_ai_usage", exc)

    def settle_exception(self, exc: BaseException, provider: str | None) -> None:
        self.settle(None, Failure(type(exc).__name__, str(exc) or type(exc).__name__), provider)


def track_ai_usage(
    function: str, model: str | None = None, *, provider: str | None = None
) -> Callable[[F], F]:
    """Decorate a sync, async or generator function that makes one AI call (DESIGN §5)."""

    def decorate(func: F) -> F:
        context = usage_context(function=function)

        @contextlib.contextmanager
        def running() -> Iterator[_Tracked]:
            """The function's body runs attributed, with its frame pushed; a failure it raises is settled."""
            run = _Tracked(function, model)
            with context._fresh():
                token = push_frame(run.frame)
                try:
                    yield run
                except Exception as exc:
                    run.settle_exception(exc, provider)
                    raise
                finally:
                    _pop(token)

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                seen = _LastUsage()
                with running() as run:
                    async for chunk in func(*args, **kwargs):
                        seen.see(chunk)
                        yield chunk
                run.settle(seen.usage, seen.failure, provider)

            return agen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with running() as run:
                    result = await func(*args, **kwargs)
                run.settle(*usage_from_response(result), provider)
                return result

            return async_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                seen = _LastUsage()
                with running() as run:
                    for chunk in func(*args, **kwargs):
                        seen.see(chunk)
                        yield chunk
                run.settle(seen.usage, seen.failure, provider)

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with running() as run:
                result = func(*args, **kwargs)
            run.settle(*usage_from_response(result), provider)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _pop(token: Any) -> None:
    # a generator resumed in another context: the frame dies with that context
    with contextlib.suppress(ValueError):
        pop_frame(token)
