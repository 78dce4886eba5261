"""The per-(provider, model, function) sums advice is computed from: one pass over the window's calls.

Every call with usage is re-priced with the :class:`~ai_usage_monitor.pricing.Pricer` at its own time
(dated prices, the tier its input fell in, cached and thinking prices), under its own model, under each
same-kind model of its provider, with its thinking output removed, at tier 0 and with more cached input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ai_usage_monitor.insights.advice_models import same_kind_models
from ai_usage_monitor.pricing.pricer import Pricer
from ai_usage_monitor.store.queries import AdviceCall

__all__ = ["TARGET_CACHE_SHARE", "Tally", "tally_calls"]

#: the implicit-cache share of input the cache advice assumes a function with a stable prefix reaches
TARGET_CACHE_SHARE = 0.30


@dataclass(slots=True)
class Tally:
    """Sums over one ``(provider, model, function)``; costs in the pricer's currency over the window."""

    provider: str
    model: str
    function: str | None
    calls: int = 0
    successes: int = 0
    duration_ms: float = 0.0
    #: calls with usage, and of them those the current prices could not price
    usage_calls: int = 0
    unpriced_calls: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    #: the cost the records carry (calls with usage), and the same calls re-priced now
    recorded_cost: float = 0.0
    repriced_cost: float = 0.0
    #: same-kind model → the priced calls re-priced under it (dropped when it cannot price one of them)
    candidates: dict[str, float] = field(default_factory=dict)
    thinking_calls: int = 0
    thinking_reasoning_tokens: int = 0
    thinking_cost: float = 0.0
    #: the thinking calls' tokens at the non-thinking output price, and without their reasoning tokens
    thinking_plain_cost: float = 0.0
    thinking_off_cost: float = 0.0
    tier_calls: int = 0
    tier_input_tokens: int = 0
    tier_cost: float = 0.0
    tier0_cost: float = 0.0
    tier_boundaries: set[int] = field(default_factory=set)
    cache_target_cost: float = 0.0
    failed_priced_calls: int = 0
    failed_cost: float = 0.0
    failed_without_usage: int = 0


def _add(tally: Tally, pricer: Pricer, call: AdviceCall) -> None:
    provider, model, _, ts, input_tokens, output_tokens, cached_tokens, reasoning_tokens = call[:8]
    cost, success, duration_ms = call[8:]
    tally.calls += 1
    tally.successes += bool(success)
    tally.duration_ms += duration_ms
    if input_tokens is None or output_tokens is None:
        tally.failed_without_usage += not success
        return
    if not success and cost > 0:
        tally.failed_priced_calls += 1
        tally.failed_cost += cost
    cached = min(cached_tokens or 0, input_tokens)
    reasoning = min(reasoning_tokens or 0, output_tokens)
    tally.usage_calls += 1
    tally.input_tokens += input_tokens
    tally.cached_tokens += cached
    tally.output_tokens += output_tokens
    tally.reasoning_tokens += reasoning
    tally.recorded_cost += cost
    base, ref = pricer.cost(
        provider, model, input_tokens, output_tokens, cached_tokens=cached, reasoning_tokens=reasoning, at=ts
    )
    if ref is None:
        tally.unpriced_calls += 1
        return
    tally.repriced_cost += base
    for name in list(tally.candidates):
        other, other_ref = pricer.cost(
            provider,
            name,
            input_tokens,
            output_tokens,
            cached_tokens=cached,
            reasoning_tokens=reasoning,
            at=ts,
        )
        if other_ref is None:
            del tally.candidates[name]
        else:
            tally.candidates[name] += other
    if reasoning:
        tally.thinking_calls += 1
        tally.thinking_reasoning_tokens += reasoning
        tally.thinking_cost += base
        plain = pricer.cost(provider, model, input_tokens, output_tokens, cached_tokens=cached, at=ts)[0]
        off = pricer.cost(
            provider, model, input_tokens, output_tokens - reasoning, cached_tokens=cached, at=ts
        )
        tally.thinking_plain_cost += plain
        tally.thinking_off_cost += off[0]
    entry = pricer.price_entry(provider=provider, model=model, at=ts)
    if entry is not None and entry.tier_index(input_tokens) > 0:
        first = entry.tiers[0]
        tally.tier_calls += 1
        tally.tier_input_tokens += input_tokens
        tally.tier_cost += base
        tally.tier0_cost += pricer.cost(
            provider,
            model,
            input_tokens,
            output_tokens,
            cached_tokens=cached,
            reasoning_tokens=reasoning,
            at=ts,
            tier_index=0,
        )[0]
        if first.max_input_tokens is not None:
            tally.tier_boundaries.add(first.max_input_tokens)
    target = max(cached, int(input_tokens * TARGET_CACHE_SHARE))
    tally.cache_target_cost += pricer.cost(
        provider, model, input_tokens, output_tokens, cached_tokens=target, reasoning_tokens=reasoning, at=ts
    )[0]


def tally_calls(calls: Iterable[AdviceCall], pricer: Pricer) -> list[Tally]:
    """One :class:`Tally` per ``(provider, model, function)`` of ``calls``, in order of first call."""
    tallies: dict[tuple[str, str, str | None], Tally] = {}
    for call in calls:
        key = (call[0], call[1], call[2])
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally(*key)
            tally.candidates = dict.fromkeys(same_kind_models(call[0], call[1]), 0.0)
        _add(tally, pricer, call)
    return list(tallies.values())
