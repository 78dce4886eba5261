"""``messages.stream(...)``: proxies of the SDK's stream managers that time and record the request sent on
``__enter__`` / ``__aenter__``.

The helper's ``MessageStream`` reads every event from its raw SDK stream (``_raw_stream``): iteration,
``text_stream``, ``get_final_message()`` and ``until_done()`` alike, and its ``close()`` closes that
stream. Putting the core's stream proxy in its place therefore sees every event and finishes the record
at the end, on an error, on ``close()`` / leaving the ``with`` block, or when collected.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import wrapt
from anthropic import AsyncStream, Stream
from anthropic.lib.streaming import AsyncMessageStreamManager

from ai_usage_monitor.instrumentation.core import CallTracker, await_inside, call_inside
from ai_usage_monitor.instrumentation.streams import AsyncStreamProxy, StreamProxy
from ai_usage_monitor.internal import handle_internal_error

__all__ = ["AsyncMessageStreamManagerProxy", "MessageStreamManagerProxy", "follow", "manager_proxy"]


def follow(message_stream: Any, tracker: CallTracker) -> Any:
    """Let ``tracker`` see the events of a helper's ``MessageStream`` / ``AsyncMessageStream``."""
    try:
        raw = getattr(message_stream, "_raw_stream", None)
        if isinstance(raw, AsyncStream):
            message_stream._raw_stream = AsyncStreamProxy(raw, tracker)
        elif isinstance(raw, Stream):
            message_stream._raw_stream = StreamProxy(raw, tracker)
        else:  # an SDK that hides its raw stream elsewhere: the call is recorded, its usage unknown
            tracker.finish(None, None)
    except Exception as exc:
        handle_internal_error("following a message stream", exc)
    return message_stream


class MessageStreamManagerProxy(wrapt.ObjectProxy):
    """Proxy of ``MessageStreamManager``: ``with`` sends the request and yields the followed stream."""

    def __init__(self, wrapped: Any, tracker: CallTracker) -> None:
        super().__init__(wrapped)
        self._self_tracker = tracker

    def __enter__(self) -> Any:
        tracker = self._self_tracker
        return follow(call_inside(tracker, self.__wrapped__.__enter__), tracker)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        return self.__wrapped__.__exit__(exc_type, exc, tb)


class AsyncMessageStreamManagerProxy(wrapt.ObjectProxy):
    """Proxy of ``AsyncMessageStreamManager``: ``async with`` sends the request."""

    def __init__(self, wrapped: Any, tracker: CallTracker) -> None:
        super().__init__(wrapped)
        self._self_tracker = tracker

    async def __aenter__(self) -> Any:
        tracker = self._self_tracker
        return follow(await await_inside(tracker, self.__wrapped__.__aenter__()), tracker)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        return await self.__wrapped__.__aexit__(exc_type, exc, tb)


def manager_proxy(manager: Any, tracker: CallTracker) -> Any:
    """The proxy fitting ``manager``, sync or async."""
    if isinstance(manager, AsyncMessageStreamManager):
        return AsyncMessageStreamManagerProxy(manager, tracker)
    return MessageStreamManagerProxy(manager, tracker)
