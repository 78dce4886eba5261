"""Stream proxies: hand every chunk to the caller untouched, fold its usage into the call's record, and
finish the record exactly once — at exhaustion, on an error, on ``close()``/``break``, or when collected.

Streams are never consumed by the monitor: the caller drives them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

import wrapt

from ai_usage_monitor.instrumentation.core import CallTracker
from ai_usage_monitor.internal import handle_internal_error

__all__ = ["AsyncStreamProxy", "StreamProxy", "wrap_async_generator", "wrap_generator"]


def _observe(tracker: CallTracker, chunk: Any) -> bool:
    state = tracker.state or tracker.stream_state()
    state.chunks += 1
    try:
        return tracker.extractor.observe_chunk(tracker.call, state, chunk)
    except Exception as exc:
        handle_internal_error("reading a stream chunk", exc)
        return False


def _fail(tracker: CallTracker, exc: BaseException) -> None:
    try:
        tracker.stream_state().failure = tracker.extractor.failure(exc)
    except Exception as internal:
        handle_internal_error("reading a stream error", internal)
    tracker.finish_stream()


class StreamProxy(wrapt.ObjectProxy):
    """Proxy of a synchronous SDK stream object (e.g. ``openai.Stream``): ``isinstance`` and every other
    attribute are the stream's own; iterating it runs :func:`wrap_generator` over the stream, as a
    generator moves chunks several times faster than a proxied ``__next__`` would."""

    def __init__(self, wrapped: Any, tracker: CallTracker) -> None:
        super().__init__(wrapped)
        self._self_tracker = tracker
        self._self_iterator: Iterator[Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = wrap_generator(self.__wrapped__, self._self_tracker)
        return iterator

    def __next__(self) -> Any:
        return next(self._self_iterator or self.__iter__())

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_tracker.finish_stream()

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        tracker = getattr(self, "_self_tracker", None)
        # Once iterated, the generator finishes the record: ``for chunk in create(stream=True)`` drops
        # this proxy at once and keeps only the generator.
        if tracker is not None and not tracker.finished and getattr(self, "_self_iterator", None) is None:
            tracker.finish_stream()


class AsyncStreamProxy(wrapt.ObjectProxy):
    """Proxy of an asynchronous SDK stream object (e.g. ``openai.AsyncStream``)."""

    def __init__(self, wrapped: Any, tracker: CallTracker) -> None:
        super().__init__(wrapped)
        self._self_tracker = tracker
        self._self_iterator: AsyncIterator[Any] | None = None

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        tracker = self._self_tracker
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = self.__wrapped__.__aiter__()
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                tracker.finish_stream()
                raise
            except BaseException as exc:
                _fail(tracker, exc)
                raise
            if not _observe(tracker, chunk):
                return chunk

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_tracker.finish_stream()

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __del__(self) -> None:
        tracker = getattr(self, "_self_tracker", None)
        if tracker is not None and not tracker.finished:
            tracker.finish_stream()


def wrap_generator(generator: Iterator[Any], tracker: CallTracker) -> Iterator[Any]:
    """Re-yield a stream (a DashScope generator, an OpenAI ``Stream``), folding each chunk into the record;
    ``finally`` runs on exhaustion, error, close and collection, and closes an abandoned stream."""
    state = tracker.stream_state()
    observe, call = tracker.extractor.observe_chunk, tracker.call
    try:
        for chunk in generator:
            state.chunks += 1
            try:
                hidden = observe(call, state, chunk)
            except Exception as exc:
                handle_internal_error("reading a stream chunk", exc)
                hidden = False
            if not hidden:
                yield chunk
    except GeneratorExit:
        close = getattr(generator, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        _fail(tracker, exc)
        raise
    finally:
        tracker.finish_stream()


async def wrap_async_generator(generator: AsyncIterator[Any], tracker: CallTracker) -> AsyncIterator[Any]:
    """Async twin of :func:`wrap_generator`."""
    try:
        async for chunk in generator:
            if not _observe(tracker, chunk):
                yield chunk
    except GeneratorExit:
        aclose = getattr(generator, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    except BaseException as exc:
        _fail(tracker, exc)
        raise
    finally:
        tracker.finish_stream()
