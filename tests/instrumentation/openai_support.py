"""Shared pieces of the OpenAI instrumentation tests: real SDK clients (sync or async) on the local fake,
fake directives, and the hand computation of costs the records must match. The fixtures (``fake``,
``flavour``, ``clients``) are in this folder's ``conftest.py``."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import get_pricer
from tests.conftest import Instrumented

__all__ = [
    "QWEN_PLUS_CACHED_SHARE",
    "QWEN_PLUS_TIER0",
    "Clients",
    "chat",
    "chat_messages",
    "directive",
    "drain",
    "invoke",
    "only_record",
    "pricer_cost",
    "qwen_plus_cost",
]

#: docs/architecture.md §10: qwen-plus, 0–128K input tier, CNY per 1K tokens (input, output, thinking output)
QWEN_PLUS_TIER0 = (0.0008, 0.002, 0.008)
#: docs/architecture.md §10: implicit cache hits bill 20% of the input price
QWEN_PLUS_CACHED_SHARE = 0.2


def directive(**values: int) -> str:
    """A ``[[fake ...]]`` directive steering the fake's usage and events."""
    return "[[fake " + " ".join(f"{key}={value}" for key, value in values.items()) + "]]"


def chat_messages(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]


def qwen_plus_cost(
    input_tokens: int, output_tokens: int, cached_tokens: int = 0, thinking: bool = False
) -> float:
    """CNY cost of a qwen-plus call below 128K input tokens, from the docs/architecture.md §10 figures."""
    price_in, price_out, price_thinking = QWEN_PLUS_TIER0
    billed_in = (input_tokens - cached_tokens) * price_in + cached_tokens * price_in * QWEN_PLUS_CACHED_SHARE
    return (billed_in + output_tokens * (price_thinking if thinking else price_out)) / 1000


def pricer_cost(
    settings: Settings,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    cached_tokens: int = 0,
) -> float:
    """Cost from the pricer's own entry for ``model`` (one tier, no thinking), in the configured currency."""
    entry = get_pricer(settings).price_entry(provider=provider, model=model)
    assert entry is not None, f"no price for {provider}/{model}"
    tier = entry.tiers[entry.tier_index(input_tokens)]
    raw = (
        (input_tokens - cached_tokens) * tier.input
        + cached_tokens * tier.cached_price
        + output_tokens * tier.output
    )
    rate = 1.0 if entry.currency == settings.currency else settings.usd_cny_rate
    return raw / entry.unit * rate


def only_record(instrumented: Instrumented) -> dict[str, Any]:
    """The one record ``instrumented`` wrote so far (fails if there are none or several)."""
    records = instrumented.records()
    assert len(records) == 1, records
    return records[0]


async def invoke(result: Any) -> Any:
    """The result of an SDK call from a sync or an async client."""
    return await result if inspect.isawaitable(result) else result


async def chat(client: Any, model: str, text: str, **options: Any) -> Any:
    """``client.chat.completions.create`` with ``text`` as the user's message, by a sync or async client."""
    return await invoke(client.chat.completions.create(model=model, messages=chat_messages(text), **options))


async def drain(stream: Any, limit: int | None = None) -> list[Any]:
    """Read a sync or async stream to its end, or only its first ``limit`` items (then stop reading)."""
    items: list[Any] = []
    if isinstance(stream, openai.AsyncStream) or hasattr(type(stream), "__aiter__"):
        aiterator: AsyncIterator[Any] = stream.__aiter__()
        while limit is None or len(items) < limit:
            try:
                items.append(await aiterator.__anext__())
            except StopAsyncIteration:
                break
        return items
    iterator: Iterator[Any] = iter(stream)
    while limit is None or len(items) < limit:
        try:
            items.append(next(iterator))
        except StopIteration:
            break
    return items


@dataclass
class Clients:
    """Builds real ``OpenAI`` / ``AsyncOpenAI`` clients on the fake (no retries); closes them afterwards."""

    fake: Any
    flavour: str
    made: list[Any] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return self.flavour == "async"

    def make(self, base_url: str) -> Any:
        cls = openai.AsyncOpenAI if self.is_async else openai.OpenAI
        client = cls(api_key="test-key", base_url=base_url, max_retries=0)
        self.made.append(client)
        return client

    def openai(self) -> Any:
        return self.make(self.fake.openai_base_url)

    def compatible(self) -> Any:
        """A client on DashScope's OpenAI-compatible path (priced as DashScope)."""
        return self.make(self.fake.compatible_base_url)

    async def close(self) -> None:
        for client in self.made:
            await invoke(client.close())
