"""usage_context: nesting, decorator form, across await and into threads started with copy_context."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from ai_usage_monitor.context import current_context, usage_context


def test_nesting_overrides_and_merges_tags() -> None:
    with usage_context(user_id="u1", anchor_id="a1", tags={"env": "prod"}):
        with usage_context(session_id="s1", function="实时分析", tags={"room": "9"}) as inner:
            assert (inner.user_id, inner.anchor_id, inner.session_id, inner.function) == (
                "u1",
                "a1",
                "s1",
                "实时分析",
            )
            assert dict(inner.tags) == {"env": "prod", "room": "9"}
        assert current_context().session_id is None
    assert current_context().user_id is None


def test_decorator_form_sync_async_generator() -> None:
    @usage_context(user_id="deco")
    def sync() -> str | None:
        return current_context().user_id

    @usage_context(anchor_id="deco-a")
    async def coro() -> str | None:
        await asyncio.sleep(0)
        return current_context().anchor_id

    @usage_context(function="gen")
    def gen():  # type: ignore[no-untyped-def]
        yield current_context().function

    assert sync() == "deco"
    assert asyncio.run(coro()) == "deco-a"
    assert list(gen()) == ["gen"]
    assert current_context().user_id is None


def test_survives_await_and_tasks() -> None:
    async def child() -> str | None:
        await asyncio.sleep(0.001)
        return current_context().session_id

    async def main() -> list[str | None]:
        async with usage_context(session_id="s-async"):
            return await asyncio.gather(child(), asyncio.create_task(child()))

    assert asyncio.run(main()) == ["s-async", "s-async"]


def test_threads_started_with_copy_context() -> None:
    seen: list[str | None] = []
    with usage_context(user_id="threaded"):
        ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(lambda: seen.append(current_context().user_id),))
    thread.start()
    thread.join()
    assert seen == ["threaded"]
