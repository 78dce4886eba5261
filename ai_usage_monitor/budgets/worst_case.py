"""The worst-case cost of a call before it goes out: what the pre-call guard reserves (docs/budgets.md).

Input tokens are not known before the call, so they are bounded from the request: every UTF-8 byte of
text at most one token (byte-level BPE tokenizers, as Qwen's and OpenAI's, never make a token of less
than one byte), plus a template overhead per message and per request, plus a stated bound per image.
Output is bounded by ``max_tokens`` or the model's output cap; with thinking on, by that plus the
thinking budget (or the cap again). The bound's price tier and the thinking price apply.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ai_usage_monitor.budgets.request_bounds import ROLES, RequestBounds, request_bounds
from ai_usage_monitor.pricing.models import PriceEntry
from ai_usage_monitor.pricing.pricer import Pricer

__all__ = [
    "DEFAULT_OUTPUT_CAP",
    "IMAGE_TOKEN_BOUND",
    "MESSAGE_OVERHEAD_TOKENS",
    "OUTPUT_CAPS",
    "REQUEST_OVERHEAD_TOKENS",
    "WorstCase",
    "WorstCaseRates",
    "input_token_bound",
    "output_bound",
    "output_cap",
    "worst_case",
]

#: tokens a chat template adds around one message (role markers, separators); real templates add < 10
MESSAGE_OVERHEAD_TOKENS = 16
#: tokens added once per request (system preamble of the template, the assistant turn's opening)
REQUEST_OVERHEAD_TOKENS = 64
#: an image part's tokens: Qwen-VL caps an image at 16384 tokens, OpenAI's high-detail images stay below
IMAGE_TOKEN_BOUND = 16_384
#: the longest output a model can return when the request sets no ``max_tokens`` (documented caps)
OUTPUT_CAPS: dict[str, int] = {
    "qwen-max": 8_192,
    "qwen-plus": 32_768,
    "qwen-turbo": 16_384,
    "qwen-flash": 32_768,
    "qwen-long": 32_768,
    "qwen3-max": 65_536,
    "qwen-vl-max": 8_192,
    "qwen-vl-plus": 8_192,
    "deepseek-chat": 8_192,
    "deepseek-reasoner": 65_536,
    "gpt-4o": 16_384,
    "gpt-4o-mini": 16_384,
    "gpt-4.1": 32_768,
    "gpt-4.1-mini": 32_768,
    "gpt-4.1-nano": 32_768,
    "gpt-5": 128_000,
    "gpt-5-mini": 128_000,
    "o3": 100_000,
    "o4-mini": 100_000,
}
#: the cap of a model not in the table (large on purpose: an unknown model must not be under-reserved)
DEFAULT_OUTPUT_CAP = 131_072
_IMAGE_PART_TYPES = frozenset({"image", "image_url", "input_image", "video", "video_url"})


def _compiled_bound() -> Callable[[list[Any], int, int], int | None] | None:
    """``_text_bytes.messages_bound`` when it was compiled (the usual request measured in C)."""
    try:
        from ai_usage_monitor.budgets._text_bytes import messages_bound
    except ImportError:
        return None
    return messages_bound


#: the compiled measure of a list of text messages (``None``: the Python loop measures every request)
COMPILED_BOUND = _compiled_bound()


@functools.lru_cache(maxsize=1024)
def output_cap(model: str) -> int:
    """The output cap of ``model``: the table's entry for it or for its longest listed prefix
    (``qwen-plus-2025-09-11`` → ``qwen-plus``), else ``DEFAULT_OUTPUT_CAP``."""
    name = model.lower().rsplit("/", 1)[-1]
    best = ""
    for known in OUTPUT_CAPS:
        if (name == known or name.startswith(known + "-")) and len(known) > len(best):
            best = known
    return OUTPUT_CAPS[best] if best else DEFAULT_OUTPUT_CAP


def _part_bound(part: Any) -> int:
    """Tokens one content part can cost: text by its UTF-8 bytes, an image or video by the stated bound."""
    if isinstance(part, str):
        return len(part.encode("utf-8", "surrogatepass"))
    if isinstance(part, Mapping):
        kind = part.get("type")
        if kind in _IMAGE_PART_TYPES or (kind is None and ("image" in part or "video" in part)):
            return IMAGE_TOKEN_BOUND
        text = part.get("text")
        if isinstance(text, str) and len(part) <= 2:
            return len(text.encode("utf-8", "surrogatepass"))
    # anything else (tool calls, audio, unknown shapes) by the size of its JSON: every byte at most a token
    return len(orjson.dumps(part, default=str))


def input_token_bound(messages: Iterable[Any], *, extra: Any = None) -> int:
    """An upper bound of the input tokens of a request: its ``messages`` (OpenAI or DashScope shape, or
    plain strings for a prompt) and ``extra`` (tool definitions, a response format) as JSON bytes."""
    if COMPILED_BOUND is not None and extra is None and type(messages) is list:
        measured = COMPILED_BOUND(messages, REQUEST_OVERHEAD_TOKENS, MESSAGE_OVERHEAD_TOKENS)
        if measured is not None:
            return measured
    tokens = REQUEST_OVERHEAD_TOKENS
    for message in messages:
        tokens += MESSAGE_OVERHEAD_TOKENS
        if type(message) is not dict and not isinstance(message, Mapping):
            tokens += _part_bound(message)
            continue
        for key, value in message.items():
            if key == "role":
                continue
            if type(value) is str:  # the common case, without a call
                tokens += len(value.encode("utf-8", "surrogatepass"))
            elif key == "content" and isinstance(value, list):
                tokens += sum(_part_bound(part) for part in value)
            else:
                tokens += _part_bound(value)
    if extra is not None:
        tokens += len(orjson.dumps(extra, default=str))
    return tokens


@dataclass(frozen=True, slots=True)
class WorstCase:
    """What the guard reserves for one call and why: the token bounds, the tier, the amount."""

    input_tokens: int
    output_tokens: int
    tier: int | None
    cost: float
    price_ref: str | None


def worst_case(
    pricer: Pricer,
    *,
    provider: str,
    model: str,
    messages: Iterable[Any],
    extra: Any = None,
    max_tokens: int | None = None,
    thinking: bool = False,
    thinking_budget: int | None = None,
    at: float | None = None,
) -> WorstCase:
    """The most a call can cost (in the pricer's currency); ``cost`` 0 and ``tier`` ``None`` when unpriced.

    Cache discounts only lower a cost, so none is assumed; a prompt-cache write costs more than plain input
    on some models, so the dearer of the two is taken.
    """
    input_bound = input_token_bound(messages, extra=extra)
    outputs = output_bound(model, max_tokens, thinking, thinking_budget)
    entry = pricer.price_entry(provider=provider, model=model, at=at)
    if entry is None:
        return WorstCase(input_bound, outputs, None, 0.0, None)
    tier = entry.tier_index(input_bound)
    rates = entry.tiers[tier]
    written = input_bound if rates.cache_write_price > rates.input else 0
    cost, ref = pricer.cost(
        provider, model, input_bound, outputs, cache_write_tokens=written, thinking=thinking, at=at
    )
    return WorstCase(input_bound, outputs, tier, cost, ref)


def output_bound(model: str, max_tokens: int | None, thinking: bool, thinking_budget: int | None) -> int:
    """The most output tokens a call can bill: ``max_tokens`` or the cap, plus the thinking budget."""
    bound = max_tokens if max_tokens is not None and max_tokens > 0 else output_cap(model)
    if thinking:
        bound += thinking_budget if thinking_budget is not None and thinking_budget > 0 else output_cap(model)
    return bound


#: seconds a model's price entry is reused on the hot path
_ENTRY_TTL_S = 60.0
#: models whose entries and rates are kept before the caches start over
_MAX_CACHED = 1024
_MARGIN = 1.0 + 1e-9


class WorstCaseRates:
    """``worst_case(...).cost`` for the guard's hot path: a cost is linear in the tokens within one price
    tier, so the per-token rates of each (model, thinking, tier) are read from the pricer once and reused;
    a model's price entry is looked up again after a minute (prices change by effective date, rarely)."""

    def __init__(self, pricer: Pricer) -> None:
        self.pricer = pricer
        #: per model: when to look its entry up again, the entry, its rates by (thinking, tier)
        self._models: dict[tuple[str, str], _ModelRates] = {}

    def _model(self, provider: str, model: str, now: float) -> _ModelRates:
        """The model's entry and rates, looked up again when they are older than ``_ENTRY_TTL_S``."""
        known = self._models.get((provider, model))
        if known is None or known.expires < now:
            if len(self._models) > _MAX_CACHED:
                self._models.clear()
            entry = self.pricer.price_entry(provider=provider, model=model, at=now)
            rates = known.rates if known is not None and known.entry is entry else {}
            cap = output_cap(model)
            limits = tuple(tier.max_input_tokens for tier in entry.tiers[:-1]) if entry is not None else ()
            known = self._models[(provider, model)] = _ModelRates(
                now + _ENTRY_TTL_S, entry, rates, cap, limits
            )
        return known

    def call_cost(  # noqa: PLR0917 - the guard's hot path calls it positionally
        self,
        provider: str,
        model: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        thinking: bool,
        now: float,
    ) -> float:
        """The worst case of an SDK call's own arguments at Unix time ``now``: the guard's hot path.

        The usual request (its messages in a list, at most an output cap besides) is read and priced in one
        pass; any other shape goes through ``request_bounds`` and ``bound``, which this pass gives the same
        answer as."""
        known = self._models.get((provider, model))
        if known is None or known.expires < now:
            known = self._model(provider, model, now)
        if known.entry is None:
            return 0.0
        if len(args) > 1:
            return self.bound(provider, model, request_bounds(args, kwargs, thinking=thinking), now)
        messages: list[Any] = []
        max_tokens: int | None = None
        capped = False
        for key, value in kwargs.items():
            role = ROLES.get(key)
            if role is None or not value:
                continue
            if role == "messages" and value.__class__ is list:
                messages = value if not messages else [*messages, *value]  # the caller's list stays as is
            elif role == "max_tokens":
                if not capped:  # the first given wins, as in request_bounds
                    capped = True
                    valid = isinstance(value, int) and value.__class__ is not bool and value > 0
                    max_tokens = value if valid else None
            else:
                return self.bound(provider, model, request_bounds(args, kwargs, thinking=thinking), now)
        inputs = input_token_bound(messages)
        return self._priced(known, provider, model, inputs, max_tokens, thinking, None)

    def cost(
        self,
        *,
        provider: str,
        model: str,
        messages: Iterable[Any],
        extra: Any = None,
        max_tokens: int | None = None,
        thinking: bool = False,
        thinking_budget: int | None = None,
    ) -> float:
        """The most the call can cost now (0 when the model is unpriced), as ``worst_case`` computes it."""
        bounds = RequestBounds(list(messages), extra, max_tokens, thinking, thinking_budget)
        return self.bound(provider, model, bounds, time.time())

    def bound(self, provider: str, model: str, bounds: RequestBounds, now: float) -> float:
        """``cost`` of a request's bounds at Unix time ``now`` (the guard's path: no keywords to match)."""
        known = self._models.get((provider, model))
        if known is None or known.expires < now:
            known = self._model(provider, model, now)
        if known.entry is None:
            return 0.0
        inputs = input_token_bound(bounds.messages, extra=bounds.extra)
        return self._priced(
            known, provider, model, inputs, bounds.max_tokens, bounds.thinking, bounds.thinking_budget
        )

    def _priced(  # noqa: PLR0917 - on the hot path
        self,
        known: _ModelRates,
        provider: str,
        model: str,
        inputs: int,
        max_tokens: int | None,
        thinking: bool,
        thinking_budget: int | None,
    ) -> float:
        """The cost of ``inputs`` tokens in and the output bound out, at the cached rates of their tier."""
        entry = known.entry
        assert entry is not None
        if thinking:
            outputs = output_bound(model, max_tokens, thinking, thinking_budget)
        else:  # output_bound's answer, without the call
            outputs = max_tokens if max_tokens is not None and max_tokens > 0 else known.cap
        tier = 0  # PriceEntry.tier_index, without the call
        for limit in known.limits:
            if limit is not None and inputs <= limit:
                break
            tier += 1
        rates = known.rates.get((thinking, tier))
        if rates is None:
            written = inputs if entry.tiers[tier].cache_write_price > entry.tiers[tier].input else 0
            quote = functools.partial(
                self.pricer.cost, provider, model, cache_write_tokens=written, thinking=thinking
            )
            input_cost = quote(inputs, 0)[0]
            output_cost = quote(inputs, outputs)[0] - input_cost
            # a hair above, so that rounding never puts the reservation under worst_case's own figure
            rates = known.rates[(thinking, tier)] = (
                input_cost / inputs * _MARGIN,
                output_cost / outputs * _MARGIN,
            )
        return inputs * rates[0] + outputs * rates[1]


@dataclass(slots=True)
class _ModelRates:
    expires: float
    entry: PriceEntry | None
    rates: dict[tuple[bool, int], tuple[float, float]]
    #: the model's output cap (``output_cap``)
    cap: int
    #: the most input tokens of each tier but the last (``PriceEntry.tier_index`` reads them)
    limits: tuple[int | None, ...]
