"""Shared pieces of the guard tests: ``instrument()`` with budgets into a folder, one call of each SDK
form (OpenAI and DashScope, sync and async, plain and streaming) on the local fake, the ledger's view."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
from dashscope import AioGeneration, Generation

import ai_usage_monitor
from ai_usage_monitor.budgets.guard import BudgetGuard
from ai_usage_monitor.recorder import get_recorder, set_recorder
from ai_usage_monitor.state import set_active_settings

__all__ = ["FORMS", "MESSAGES", "call_form", "guard", "guarded", "spent", "unguarded", "wait_until"]

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "你好"}]
#: every form a budget must stop: SDK, then sync/async, then plain/stream
FORMS = [
    ("openai", "sync", False),
    ("openai", "sync", True),
    ("openai", "async", False),
    ("openai", "async", True),
    ("dashscope", "sync", False),
    ("dashscope", "sync", True),
    ("dashscope", "async", False),
    ("dashscope", "async", True),
]


@contextmanager
def guarded(records_dir: Path, budgets: list[dict[str, Any]], **settings: Any) -> Iterator[Any]:
    """``instrument()`` with ``budgets`` writing to ``records_dir`` (Asia/Shanghai); undone afterwards."""
    resolved = ai_usage_monitor.instrument(
        records_dir=records_dir,
        timezone="Asia/Shanghai",
        raise_internal_errors=True,
        budgets=budgets,
        **settings,
    )
    try:
        yield resolved
    finally:
        unguarded()


def unguarded() -> None:
    ai_usage_monitor.uninstrument()
    previous = set_recorder(None)
    if previous is not None:
        previous.close()
    set_active_settings(None)


def guard() -> BudgetGuard:
    found = get_recorder().guard
    assert found is not None
    return found


def spent(budget: str, scope_value: str = "") -> tuple[float, float]:
    """``(spent, reserved)`` of a budget's counter now, as every process sees it."""
    rows = [s for s in guard().ledger.status() if s.budget == budget and s.scope_value == scope_value]
    assert len(rows) == 1, rows
    return rows[0].spent, rows[0].reserved


async def _drain(stream: Any) -> None:
    if hasattr(stream, "__aiter__"):
        async for _ in stream:
            pass
    else:
        for _ in stream:
            pass


async def call_form(fake: Any, sdk: str, flavour: str, stream: bool, model: str = "qwen-plus") -> None:
    """One chat call of the given form on the fake, read to its end; the model passed positionally to
    DashScope, by keyword to OpenAI."""
    if sdk == "openai":
        cls = openai.AsyncOpenAI if flavour == "async" else openai.OpenAI
        client = cls(api_key="test-key", base_url=fake.compatible_base_url, max_retries=0)
        try:
            options: dict[str, Any] = {"stream": True} if stream else {}
            result = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=200, **options)
            result = await result if inspect.isawaitable(result) else result
            if stream:
                await _drain(result)
        finally:
            closed = client.close()
            if inspect.isawaitable(closed):
                await closed
        return
    target = AioGeneration if flavour == "async" else Generation
    options = {"stream": True, "incremental_output": True} if stream else {}
    result = target.call(model, messages=MESSAGES, max_tokens=200, result_format="message", **options)
    result = await result if inspect.isawaitable(result) else result
    if stream:
        await _drain(result)


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
