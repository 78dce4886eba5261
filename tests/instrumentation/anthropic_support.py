"""Shared pieces of the Anthropic instrumentation tests: real ``anthropic`` clients (sync or async) on the
local fake, spans kept in memory, and the hand computation of a Claude Haiku 4.5 call's cost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anthropic
from anthropic.lib.streaming import AsyncMessageStreamManager
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ai_usage_monitor.config import Settings
from ai_usage_monitor.instrumentation.core import use_tracer_provider
from tests.instrumentation.openai_support import invoke

__all__ = [
    "HAIKU",
    "HAIKU_PRICES_USD",
    "USAGE",
    "AnthropicClients",
    "haiku_cost",
    "message_params",
    "only_span",
    "read_helper",
    "spans_in_memory",
    "user_messages",
]

HAIKU = "claude-haiku-4-5"
#: Anthropic's published Claude Haiku 4.5 prices, USD per million tokens: input, output, cache read (0.1×
#: input), cache write with the default 5-minute lifetime (1.25× input)
HAIKU_PRICES_USD = (1.00, 5.00, 0.10, 1.25)
#: a call's usage in the monitor's terms: all input (cache reads and writes included), and its parts
USAGE = {"prompt_tokens": 3000, "cached_tokens": 2000, "cache_write_tokens": 400, "completion_tokens": 50}


def haiku_cost(settings: Settings, prompt: int, output: int, cached: int = 0, written: int = 0) -> float:
    """A Haiku 4.5 call's cost in the configured currency: uncached input, reads and writes priced apart."""
    price_in, price_out, price_read, price_write = HAIKU_PRICES_USD
    usd = ((prompt - cached - written) * price_in + cached * price_read + written * price_write) / 1e6
    usd += output * price_out / 1e6
    return usd * settings.usd_cny_rate if settings.currency == "CNY" else usd


def user_messages(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def message_params(text: str, **options: Any) -> dict[str, Any]:
    """Keyword arguments of ``messages.create`` / ``messages.stream`` for one user message to Haiku."""
    return {"model": HAIKU, "max_tokens": 256, "messages": user_messages(text), **options}


@dataclass
class AnthropicClients:
    """Builds real ``Anthropic`` / ``AsyncAnthropic`` clients on the fake (no retries); closes them after."""

    fake: Any
    flavour: str
    made: list[Any] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return self.flavour == "async"

    def client(self) -> Any:
        cls = anthropic.AsyncAnthropic if self.is_async else anthropic.Anthropic
        made = cls(api_key="test-key", base_url=self.fake.anthropic_base_url, max_retries=0)
        self.made.append(made)
        return made

    async def close(self) -> None:
        for client in self.made:
            await invoke(client.close())


@contextmanager
def spans_in_memory() -> Iterator[InMemorySpanExporter]:
    """The monitor's spans go to an in-memory exporter for the block."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    try:
        yield exporter
    finally:
        use_tracer_provider(None)
        provider.shutdown()


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


async def read_helper(manager: Any, how: str) -> Any:
    """Enter a ``messages.stream(...)`` manager (sync or async) and read it ``how``: ``final`` message,
    ``text`` stream, ``events`` iterated, ``first`` event only (early exit), or ``close`` unread."""
    if isinstance(manager, AsyncMessageStreamManager):
        async with manager as stream:
            if how == "final":
                return await stream.get_final_message()
            if how == "text":
                return "".join([text async for text in stream.text_stream])
            if how == "events":
                return [event async for event in stream]
            if how == "first":
                async for event in stream:
                    return event
            await stream.close()
            return None
    with manager as stream:
        if how == "final":
            return stream.get_final_message()
        if how == "text":
            return "".join(stream.text_stream)
        if how == "events":
            return list(stream)
        if how == "first":
            for event in stream:
                return event
        stream.close()
        return None
