"""Who a call is for: ``usage_context`` (user, anchor, session, function, tags) on contextvars.

Contextvars follow ``await`` and tasks; threads the app starts see them when run with
``contextvars.copy_context().run(...)``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["DecoratorFrame", "UsageContext", "current_context", "current_frame", "usage_context"]

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


@dataclass(slots=True)
class DecoratorFrame:
    """Set by ``track_ai_usage`` while its function runs: instrumented calls inside count themselves here."""

    function: str
    model: str | None
    recorded: int = 0


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
