"""Prices for providers other than DashScope from the pinned ``genai-prices`` package, offline.

Only the data bundled with the installed package is read: its own snapshot object, never the shared
one that ``genai_prices.UpdatePrices`` replaces with prices fetched over the network. Each model's
prices are converted once into ``PriceEntry`` values (USD per 1M tokens) and memoised per
``(provider, model)``, so a quote on the hot path never runs genai-prices' Decimal arithmetic.
Priced: input, output and cache-read tokens. Not priced: cache writes, audio/image tokens, searches.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from ai_usage_monitor.pricing.matching import candidate_names, normalise_provider
from ai_usage_monitor.pricing.models import EPOCH, UNITS, PriceEntry, Tier

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice

__all__ = ["ORIGIN", "genai_prices_entries", "genai_prices_version", "warm_up"]

ORIGIN = "genai-prices"
_MEMO_LIMIT = 4096
logger = logging.getLogger(__name__)

_snapshot: DataSnapshot | None = None
_snapshot_lock = threading.Lock()
_memo: dict[tuple[str, str], tuple[PriceEntry, ...] | None] = {}


@cache
def genai_prices_version() -> str:
    return version("genai-prices")


def _bundled_snapshot() -> DataSnapshot:
    global _snapshot
    if _snapshot is None:
        with _snapshot_lock:
            if _snapshot is None:
                from genai_prices.data import providers
                from genai_prices.data_snapshot import DataSnapshot

                _snapshot = DataSnapshot(providers=providers, from_auto_update=False)
    return _snapshot


def warm_up() -> None:
    """Import the bundled price data now (about a third of a second) instead of on the first lookup."""
    _bundled_snapshot()


def genai_prices_entries(provider: str, model: str) -> tuple[PriceEntry, ...] | None:
    """The dated price entries genai-prices has for this model, or ``None`` when it has none.

    Tries the exact name, then the name without a dated snapshot suffix. Entries are in genai-prices'
    precedence order: the last one in force at a call's time applies.
    """
    key = (provider, model)
    try:
        return _memo[key]
    except KeyError:
        pass
    entries = _lookup(normalise_provider(provider), model)
    if len(_memo) >= _MEMO_LIMIT:
        _memo.clear()
    _memo[key] = entries
    return entries


def _lookup(provider: str, model: str) -> tuple[PriceEntry, ...] | None:
    snapshot = _bundled_snapshot()
    for name in candidate_names(model):
        try:
            found_provider, info = snapshot.find_provider_model(name, None, provider, None)
        except LookupError:
            continue
        try:
            return _entries(found_provider.id, info)
        except (ValueError, ArithmeticError):
            logger.warning(
                "genai-prices data for %s/%s cannot be used; the model stays unpriced", provider, name
            )
            return None
    return None


def _entries(provider_id: str, info: ModelInfo) -> tuple[PriceEntry, ...] | None:
    from genai_prices.types import ConditionalPrice, StartDateConstraint, TimeOfDateConstraint

    conditional = info.prices if isinstance(info.prices, list) else [ConditionalPrice(prices=info.prices)]
    entries: list[PriceEntry] = []
    for price in conditional:
        tiers = _tiers(price.prices)
        if tiers is None:
            return None
        effective_from: date = EPOCH
        window: tuple[int, int] | None = None
        if isinstance(price.constraint, StartDateConstraint):
            effective_from = price.constraint.start_date
        elif isinstance(price.constraint, TimeOfDateConstraint):
            window = (_utc_second(price.constraint.start_time), _utc_second(price.constraint.end_time))
        entries.append(
            PriceEntry(
                provider=provider_id,
                model=info.id,
                currency="USD",
                unit=UNITS["1M"],
                tiers=tiers,
                effective_from=effective_from,
                source=f"genai-prices {genai_prices_version()} (bundled data, offline)",
                origin=ORIGIN,
                daily_window=window,
            )
        )
    return tuple(entries)


def _tiers(price: ModelPrice) -> tuple[Tier, ...] | None:
    """genai-prices' per-kind prices as our tiers; ``None`` when the model has no per-token input price.

    genai-prices tiers each price kind separately: above ``start`` input tokens the tier's price applies
    to the whole request. Our tiers end at the starts of all kinds' tiers.
    """
    from genai_prices.types import TieredPrices

    input_price: Any = price.input_mtok
    if input_price is None:
        return None
    kinds: dict[str, Any] = {
        "input": input_price,
        "output": price.output_mtok if price.output_mtok is not None else Decimal(0),
        "cached_input": price.cache_read_mtok,
        "cache_creation_input": price.cache_write_mtok,
    }
    starts = sorted({t.start for p in kinds.values() if isinstance(p, TieredPrices) for t in p.tiers} - {0})
    bounds: list[int | None] = [*starts, None]
    tiers: list[Tier] = []
    below = 0  # requests in a tier have more input tokens than this (or none at all, in the first)
    for bound in bounds:
        values = {name: _price_above(p, below) for name, p in kinds.items()}
        tiers.append(
            Tier(
                max_input_tokens=bound,
                input=values["input"] or 0.0,
                output=values["output"] or 0.0,
                cached_input=values["cached_input"],
                cache_creation_input=values["cache_creation_input"],
            )
        )
        below = bound if bound is not None else below
    return tuple(tiers)


def _price_above(price: Any, input_tokens: int) -> float | None:
    """The price genai-prices applies to a request with more than ``input_tokens`` input tokens."""
    from genai_prices.types import TieredPrices

    if price is None:
        return None
    if not isinstance(price, TieredPrices):
        return float(price)
    applicable = price.base
    for tier in price.tiers:  # sorted by start
        if input_tokens >= tier.start:
            applicable = tier.price
    return float(applicable)


def _utc_second(moment: time) -> int:
    if moment.tzinfo is not None:
        moment = datetime.combine(date(1970, 1, 1), moment).astimezone(UTC).time()
    return moment.hour * 3600 + moment.minute * 60 + moment.second
