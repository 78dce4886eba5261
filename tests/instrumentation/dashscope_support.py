"""Shared pieces of the DashScope instrumentation tests: readers of what each call left behind (records,
spans, requests), undoing ``instrument()``, and the hand computation of costs the records must match.
The fixtures (``dashscope_fake``, ``monitor``, ``aio_session``) are in this folder's ``conftest.py``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ai_usage_monitor.instrumentation import uninstrument
from ai_usage_monitor.instrumentation.core import use_tracer_provider
from ai_usage_monitor.recorder import set_recorder
from ai_usage_monitor.state import set_active_settings
from tests.support.records import read_records

__all__ = [
    "QWEN_PLUS_TIERS",
    "DashScopeMonitor",
    "assert_cost",
    "cost_cny",
    "only",
    "reset_monitor",
    "tokens",
    "values",
]

#: docs/architecture.md §10 qwen-plus prices, CNY per 1K tokens, by tier: (input, output, thinking output).
QWEN_PLUS_TIERS = ((0.0008, 0.002, 0.008), (0.0024, 0.02, 0.024), (0.0048, 0.048, 0.064))
CACHED_RATIO = 0.2


def cost_cny(
    input_price: float, output_price: float, *, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> float:
    """A hand computation (docs/architecture.md §10): cached input bills 20% of the input price; per 1K."""
    fresh = input_tokens - cached_tokens
    return (
        fresh * input_price + cached_tokens * input_price * CACHED_RATIO + output_tokens * output_price
    ) / 1000


def values(record: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    """Some fields of a record, in order, for one readable equality assertion."""
    return tuple(record[key] for key in keys)


def tokens(record: dict[str, Any]) -> tuple[Any, ...]:
    """``(input, output, cached, reasoning)`` tokens of a record."""
    return values(record, "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")


def assert_cost(record: dict[str, Any], expected: float) -> None:
    """The record's cost is the hand computation (far closer than the cent)."""
    assert record["cost"] == pytest.approx(expected, rel=1e-9)
    assert (record["currency"], record["priced"]) == ("CNY", True)


def only(items: list[Any]) -> Any:
    assert len(items) == 1, f"expected exactly one, got {len(items)}: {items!r}"
    return items[0]


@dataclass
class DashScopeMonitor:
    """What an instrumented test gets: the fake, the records folder and the spans exported so far."""

    fake: Any
    records_dir: Path
    exporter: InMemorySpanExporter

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.records_dir)

    def record(self) -> dict[str, Any]:
        """The one record written so far (fails if there are none or several)."""
        return only(self.records())

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span_attributes(self) -> dict[str, Any]:
        return dict(only(self.spans()).attributes or {})

    def sdk_requests(self) -> list[str]:
        """Paths of the DashScope requests the fake received: the SDK's real calls over HTTP."""
        return [r.path for r in self.fake.requests if r.path.startswith("/api/")]


def reset_monitor() -> None:
    """Undo ``instrument()``: unpatch the SDKs, drop the recorder, settings and tracer provider."""
    uninstrument()
    previous = set_recorder(None)
    if previous is not None:
        previous.close()
    set_active_settings(None)
    use_tracer_provider(None)
