"""Who a call is for: ``usage_context`` (user, anchor, session, function, tags) on contextvars.

Contextvars follow ``await`` and tasks. Work submitted to a ``ThreadPoolExecutor`` (also what
``loop.run_in_executor`` does) carries the attribution and the decorator frame along once
:func:`carry_into_thread_pools` ran (``instrument()`` and ``track_ai_usage`` call it); other threads the
app starts see them when run with ``contextvars.copy_context().run(...)``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

__all__ = [
    "DecoratorFrame",
    "UsageContext",
    "attributed",
    "carry_into_thread_pools",
    "current_context",
    "current_frame",
    "usage_context",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class UsageContext:
    """The attribution in force; inner contexts override the fields they set, tags are merged."""

    user_id: str | None = None
    anchor_id: str | None = None
    session_id: str | None = None
    function: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def merged(
        self,
        user_id: str | None,
        anchor_id: str | None,
        session_id: str | None,
        function: str | None,
        tags: Mapping[str, str] | None,
    ) -> UsageContext:
        return UsageContext(
            user_id=user_id if user_id is not None else self.user_id,
            anchor_id=anchor_id if anchor_id is not None else self.anchor_id,
            session_id=session_id if session_id is not None else self.session_id,
            function=function if function is not None else self.function,
            tags={**self.tags, **tags} if tags else self.tags,
        )


@dataclass(slots=True, eq=False)
class DecoratorFrame:
    """Set by ``track_ai_usage`` while its function runs: the records made inside count themselves here.

    A record counts for every enclosing decorated function too (``parent``), so none of them records
    the same call again. ``pending`` is the decorator's own record, owed when nothing inside recorded;
    it is written when the frame is released — after every task or pool thread that could still make
    a call on the function's behalf has let go of it.
    """

    function: str
    model: str | None
    parent: DecoratorFrame | None = None
    recorded: int = 0
    pending: Callable[[], None] | None = None

    def count(self) -> None:
        """One record was made on behalf of this frame (and so of its enclosing ones)."""
        frame: DecoratorFrame | None = self
        while frame is not None:
            frame.recorded += 1
            frame = frame.parent

    def __del__(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None and not self.recorded:
            pending()


EMPTY_CONTEXT = UsageContext()
_context: ContextVar[UsageContext] = ContextVar("ai_usage_context", default=EMPTY_CONTEXT)
_frame: ContextVar[DecoratorFrame | None] = ContextVar("ai_usage_decorator_frame", default=None)


def current_context() -> UsageContext:
    return _context.get()


def current_frame() -> DecoratorFrame | None:
    return _frame.get()


def push_frame(frame: DecoratorFrame) -> Token[DecoratorFrame | None]:
    return _frame.set(frame)


def pop_frame(token: Token[DecoratorFrame | None]) -> None:
    _frame.reset(token)


@contextlib.contextmanager
def attributed(context: UsageContext, frame: DecoratorFrame | None) -> Iterator[None]:
    """Run a block with this attribution and decorator frame in force (restored afterwards)."""
    context_token = _context.set(context)
    frame_token = _frame.set(frame)
    try:
        yield
    finally:
        _frame.reset(frame_token)
        _context.reset(context_token)


_carry_lock = threading.Lock()
_CARRYING = "_ai_usage_carries_context"


def _carrying(submit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(submit)
    def submit_carrying(
        self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        context, frame = _context.get(), _frame.get()
        if context is EMPTY_CONTEXT and frame is None:
            return submit(self, fn, *args, **kwargs)

        def run_attributed(*args: Any, **kwargs: Any) -> Any:
            with attributed(context, frame):
                return fn(*args, **kwargs)

        return submit(self, run_attributed, *args, **kwargs)

    setattr(submit_carrying, _CARRYING, True)
    return submit_carrying


def carry_into_thread_pools() -> None:
    """Make ``ThreadPoolExecutor.submit`` (and so ``loop.run_in_executor``) carry our attribution along.

    Only this module's two variables travel, and only when one is set: the app's own contextvars and
    pools used outside any ``usage_context`` / decorated function behave exactly as before.
    """
    with _carry_lock:
        if not getattr(ThreadPoolExecutor.submit, _CARRYING, False):
            ThreadPoolExecutor.submit = _carrying(ThreadPoolExecutor.submit)  # type: ignore[method-assign]


class usage_context:
    """Attribute the calls made inside to a user, anchor, session, function (context manager or decorator)."""

    __slots__ = ("_anchor_id", "_function", "_session_id", "_tags", "_tokens", "_user_id")

    def __init__(
        self,
        user_id: str | None = None,
        anchor_id: str | None = None,
        session_id: str | None = None,
        function: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self._user_id = user_id
        self._anchor_id = anchor_id
        self._session_id = session_id
        self._function = function
        self._tags = dict(tags) if tags else None
        self._tokens: list[Token[UsageContext]] = []

    def __enter__(self) -> UsageContext:
        new = _context.get().merged(
            self._user_id, self._anchor_id, self._session_id, self._function, self._tags
        )
        self._tokens.append(_context.set(new))
        return new

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _context.reset(self._tokens.pop())

    async def __aenter__(self) -> UsageContext:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _fresh(self) -> usage_context:
        return usage_context(self._user_id, self._anchor_id, self._session_id, self._function, self._tags)

    def __call__(self, func: F) -> F:
        """Use as a decorator: every call of ``func`` (sync, async, generator) runs inside this context."""
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    async for item in func(*args, **kwargs):
                        yield item

            return agen_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return (yield from func(*args, **kwargs))

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
