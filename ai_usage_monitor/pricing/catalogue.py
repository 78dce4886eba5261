"""The built-in DashScope (Alibaba Cloud Model Studio, mainland China) price catalogue, in CNY per 1K tokens.

Data, dated: every entry says from when it is in force and where its figures come from. A price change
is a new entry with a later date, never an edit, so records keep the price of their time (DESIGN §10).

Tier boundaries: DashScope labels its tiers "0<Token≤128K", "128K<Token≤256K", "256K<Token≤1M". We read
K as 1024, the unit Model Studio uses for the same models' limits (a "128K" context is 131,072 tokens,
of which 129,024 may be input), so tier 0 ends at 131,072 input tokens and tier 1 at 262,144. A request
is billed entirely at the tier its input tokens fall in.
"""

from __future__ import annotations

from datetime import date

from ai_usage_monitor.pricing.matching import DASHSCOPE
from ai_usage_monitor.pricing.models import EPOCH, UNITS, PriceEntry, Tier

__all__ = [
    "CACHED_INPUT_RATIO",
    "CATALOGUE_DATE",
    "DASHSCOPE_CATALOGUE",
    "TIER_128K",
    "TIER_256K",
]

TIER_128K = 128 * 1024
TIER_256K = 256 * 1024
#: Implicit context-cache hits bill at 20% of the input price.
CACHED_INPUT_RATIO = 0.2
#: When the current figures were checked against the published price list.
CATALOGUE_DATE = date(2025, 9, 1)

_CURRENT_SOURCE = (
    "Alibaba Cloud Model Studio price list, mainland China, checked 2025-09-01 (DESIGN §10); "
    "cached input at 20% of input"
)
_LEGACY_SOURCE = "figures of the original usage doc (undated; kept so older records keep their price)"


def _tier(
    max_input_tokens: int | None, input: float, output: float, thinking_output: float | None = None
) -> Tier:
    return Tier(
        max_input_tokens=max_input_tokens,
        input=input,
        output=output,
        cached_input=round(input * CACHED_INPUT_RATIO, 12),  # 0.00048, not 0.00047999999999999996
        thinking_output=thinking_output,
    )


def _entry(
    model: str, *tiers: Tier, effective_from: date = CATALOGUE_DATE, source: str = _CURRENT_SOURCE
) -> PriceEntry:
    return PriceEntry(
        provider=DASHSCOPE,
        model=model,
        currency="CNY",
        unit=UNITS["1K"],
        tiers=tiers,
        effective_from=effective_from,
        source=source,
        origin=DASHSCOPE,
    )


DASHSCOPE_CATALOGUE: tuple[PriceEntry, ...] = (
    _entry("qwen-plus", _tier(None, 0.0004, 0.002), effective_from=EPOCH, source=_LEGACY_SOURCE),
    _entry("qwen-max", _tier(None, 0.02, 0.06), effective_from=EPOCH, source=_LEGACY_SOURCE),
    _entry(
        "qwen-plus",
        _tier(TIER_128K, 0.0008, 0.002, thinking_output=0.008),
        _tier(TIER_256K, 0.0024, 0.02, thinking_output=0.024),
        _tier(None, 0.0048, 0.048, thinking_output=0.064),
    ),
    _entry("qwen-turbo", _tier(None, 0.0003, 0.0006, thinking_output=0.003)),
    _entry(
        "qwen-flash",
        _tier(TIER_128K, 0.00015, 0.0015),
        _tier(TIER_256K, 0.0006, 0.006),
        _tier(None, 0.0012, 0.012),
    ),
    _entry("qwen-max", _tier(None, 0.0024, 0.0096)),
    _entry("qwen-long", _tier(None, 0.0005, 0.002)),
    _entry("qwen-vl-plus", _tier(None, 0.0008, 0.002)),
    _entry("qwen-vl-max", _tier(None, 0.0016, 0.004)),
)
