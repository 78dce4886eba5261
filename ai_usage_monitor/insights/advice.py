"""Advice priced on the team's own traffic: what each change would save per month at current volume.

Each item re-prices the window's real calls (``advice_tally``) and scales the window's saving to 30
days. Kinds: ``cheaper_model`` (a same-kind model of the same provider), ``thinking`` (thinking mode
off), ``context_tier`` (inputs past a tier boundary), ``cache`` (long inputs rarely cached) and
``failures`` (money spent on failed calls). Items are ranked by saving, highest first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ai_usage_monitor.insights.advice_tally import TARGET_CACHE_SHARE, Tally, tally_calls
from ai_usage_monitor.pricing.pricer import Pricer
from ai_usage_monitor.store.periods import last_days, to_epoch
from ai_usage_monitor.store.queries import TimeRange, advice_calls, model_traffic

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store

__all__ = [
    "KINDS",
    "LONG_INPUT_TOKENS",
    "LOW_CACHE_SHARE",
    "MONTH_DAYS",
    "TARGET_CACHE_SHARE",
    "Advice",
    "advise",
    "advise_last_days",
]

KINDS = ("cheaper_model", "thinking", "context_tier", "cache", "failures")
#: savings are scaled from the window to a month of this many days
MONTH_DAYS = 30
#: the cache advice looks at functions whose calls average at least this many input tokens …
LONG_INPUT_TOKENS = 2048
#: … and whose cached share of input is below this
LOW_CACHE_SHARE = 0.10
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Advice:
    """One piece of advice: the change, what it saves per month (configured currency), how, on what."""

    kind: str
    function: str | None
    model: str
    to_model: str | None
    monthly_saving: float
    detail: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Window:
    start: float
    end: float
    currency: str

    @property
    def days(self) -> float:
        return (self.end - self.start) / _DAY

    @property
    def scale(self) -> float:
        """Window amounts × this = amounts per month at the same volume."""
        return MONTH_DAYS / self.days

    def scaled(self, amount: float) -> str:
        return f"{amount:.6g} {self.currency} over {self.days:.3g} days, × {self.scale:.4g} for 30 days"


def _evidence(tally: Tally, window: _Window, **extra: Any) -> dict[str, Any]:
    return {
        "window_start": window.start,
        "window_end": window.end,
        "window_days": window.days,
        "provider": tally.provider,
        "models": [tally.model],
        "calls": tally.calls,
        "usage_calls": tally.usage_calls,
        "unpriced_calls": tally.unpriced_calls,
        "input_tokens": tally.input_tokens,
        "cached_tokens": tally.cached_tokens,
        "output_tokens": tally.output_tokens,
        "reasoning_tokens": tally.reasoning_tokens,
        "recorded_cost": tally.recorded_cost,
        "repriced_cost": tally.repriced_cost,
        "success_rate": tally.successes * 100.0 / tally.calls if tally.calls else 100.0,
        "avg_ms": tally.duration_ms / tally.calls if tally.calls else 0.0,
        **extra,
    }


def _item(
    kind: str,
    tally: Tally,
    window: _Window,
    *,
    saving: float,
    detail: str,
    to_model: str | None = None,
    **extra: Any,
) -> Advice:
    evidence = _evidence(tally, window, window_saving=saving, **extra)
    text = f"{detail} Saving {window.scaled(saving)}."
    return Advice(kind, tally.function, tally.model, to_model, saving * window.scale, text, evidence)


def _cheaper_model(
    tally: Tally, window: _Window, traffic: dict[tuple[str, str], dict[str, Any]]
) -> Advice | None:
    options: list[dict[str, Any]] = []
    for name, cost in tally.candidates.items():
        if tally.repriced_cost - cost <= 0:
            continue
        seen = traffic.get((tally.provider, name))
        options.append(
            {
                "model": name,
                "window_cost": cost,
                "monthly_saving": (tally.repriced_cost - cost) * window.scale,
                "candidate_traffic": seen is not None,
                "candidate_calls": seen["calls"] if seen else 0,
                "candidate_success_rate": seen["success_rate"] if seen else None,
                "candidate_avg_ms": seen["avg_ms"] if seen else None,
            }
        )
    if not options or tally.usage_calls == tally.unpriced_calls:
        return None
    options.sort(key=lambda o: (-o["monthly_saving"], o["model"]))
    best = options[0]
    if best["candidate_traffic"]:
        seen_text = (
            f"{best['model']} answered {best['candidate_calls']} calls in the window, "
            f"{best['candidate_success_rate']:.1f}% successful, {best['candidate_avg_ms']:.0f} ms on average."
        )
    else:
        seen_text = f"No traffic on {best['model']} in the window: its success rate and latency are unknown."
    detail = (
        f"The {tally.usage_calls - tally.unpriced_calls} priced calls' real tokens (input incl. cached, "
        f"cached, output incl. reasoning) re-priced at the catalogue prices in force at each call, tier by "
        f"tier: {tally.repriced_cost:.6g} on {tally.model}, {best['window_cost']:.6g} on {best['model']}. "
        + seen_text
    )
    saving = tally.repriced_cost - best["window_cost"]
    extra = {k: v for k, v in best.items() if k.startswith("candidate_")}
    return _item(
        "cheaper_model",
        tally,
        window,
        saving=saving,
        detail=detail,
        to_model=best["model"],
        candidate_cost=best["window_cost"],
        candidates=options,
        **extra,
    )


def _thinking(tally: Tally, window: _Window) -> Advice | None:
    saving = tally.thinking_cost - tally.thinking_off_cost
    if tally.thinking_calls == 0 or saving <= 0:
        return None
    detail = (
        f"{tally.thinking_calls} calls used thinking mode "
        f"({tally.thinking_reasoning_tokens} reasoning tokens): {tally.thinking_cost:.6g} at the thinking "
        f"output price, {tally.thinking_plain_cost:.6g} had the same tokens been billed at the non-thinking "
        f"price, {tally.thinking_off_cost:.6g} without the reasoning "
        "tokens (thinking off)."
    )
    return _item(
        "thinking",
        tally,
        window,
        saving=saving,
        detail=detail,
        thinking_calls=tally.thinking_calls,
        thinking_reasoning_tokens=tally.thinking_reasoning_tokens,
        thinking_cost=tally.thinking_cost,
        thinking_surcharge=tally.thinking_cost - tally.thinking_plain_cost,
        cost_without_thinking=tally.thinking_off_cost,
    )


def _context_tier(tally: Tally, window: _Window) -> Advice | None:
    saving = tally.tier_cost - tally.tier0_cost
    if tally.tier_calls == 0 or saving <= 0:
        return None
    boundaries = sorted(tally.tier_boundaries)
    detail = (
        f"{tally.tier_calls} calls ({tally.tier_input_tokens} input tokens) went past the first price tier "
        f"(input above {', '.join(map(str, boundaries))} tokens), which bills the whole request at the "
        f"higher tier: {tally.tier_cost:.6g}, against {tally.tier0_cost:.6g} at tier 0 prices. "
        "Keeping inputs under the boundary (trimming history, retrieval) saves the difference."
    )
    return _item(
        "context_tier",
        tally,
        window,
        saving=saving,
        detail=detail,
        tier_calls=tally.tier_calls,
        tier_input_tokens=tally.tier_input_tokens,
        tier_boundaries=boundaries,
        tier_cost=tally.tier_cost,
        tier0_cost=tally.tier0_cost,
    )


def _cache(tally: Tally, window: _Window) -> Advice | None:
    priced = tally.usage_calls - tally.unpriced_calls
    if priced == 0 or tally.input_tokens == 0:
        return None
    mean_input = tally.input_tokens / tally.usage_calls
    share = tally.cached_tokens / tally.input_tokens
    saving = tally.repriced_cost - tally.cache_target_cost
    if mean_input < LONG_INPUT_TOKENS or share >= LOW_CACHE_SHARE or saving <= 0:
        return None
    detail = (
        f"Inputs average {mean_input:.0f} tokens (threshold {LONG_INPUT_TOKENS}) but only {share:.1%} were "
        f"cache hits (threshold {LOW_CACHE_SHARE:.0%}). With a stable prompt prefix, at least "
        f"{TARGET_CACHE_SHARE:.0%} of each call's input billed as implicit-cache hits would cost "
        f"{tally.cache_target_cost:.6g} instead of {tally.repriced_cost:.6g}."
    )
    return _item(
        "cache",
        tally,
        window,
        saving=saving,
        detail=detail,
        mean_input_tokens=mean_input,
        cached_share=share,
        long_input_threshold=LONG_INPUT_TOKENS,
        low_share_threshold=LOW_CACHE_SHARE,
        target_share=TARGET_CACHE_SHARE,
        cost_at_target=tally.cache_target_cost,
    )


def _failures(tally: Tally, window: _Window) -> Advice | None:
    if tally.failed_priced_calls == 0 and tally.failed_without_usage == 0:
        return None
    detail = (
        f"{tally.failed_priced_calls} failed calls were billed {tally.failed_cost:.6g} (recorded cost); "
        f"{tally.failed_without_usage} more failed without usage (not billed as far as we know). "
        "Fewer retries of doomed calls, tighter timeouts or fixing the errors saves this."
    )
    return _item(
        "failures",
        tally,
        window,
        saving=tally.failed_cost,
        detail=detail,
        failed_calls=tally.failed_priced_calls,
        failed_cost=tally.failed_cost,
        failed_without_usage=tally.failed_without_usage,
    )


def advise(store: Store, pricer: Pricer, window: TimeRange) -> list[Advice]:
    """Advice over the calls in ``window`` (its end should not lie in the future), highest saving first."""
    span = _Window(window.start, window.end, pricer.currency)
    if span.days <= 0:
        return []
    tallies = tally_calls(advice_calls(store, window), pricer)
    traffic = model_traffic(store, window)
    items: list[Advice] = []
    for tally in tallies:
        for found in (
            _cheaper_model(tally, span, traffic),
            _thinking(tally, span),
            _context_tier(tally, span),
            _cache(tally, span),
            _failures(tally, span),
        ):
            if found is not None:
                items.append(found)
    items.sort(key=lambda a: (-a.monthly_saving, KINDS.index(a.kind), a.function or "", a.model))
    return items


def advise_last_days(store: Store, pricer: Pricer, days: int, now: float | None = None) -> list[Advice]:
    """:func:`advise` over the ``days`` calendar days ending today (store's time zone), up to ``now``."""
    rng, _ = last_days(store.tz, days, now)
    return advise(store, pricer, TimeRange(rng.start, min(rng.end, to_epoch(now))))
