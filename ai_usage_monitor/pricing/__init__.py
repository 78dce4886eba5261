"""Prices and cost: a dated, tiered, cached-token-aware catalogue behind one ``Pricer.quote``.

See docs/architecture.md §10.
"""

from __future__ import annotations

from ai_usage_monitor.pricing.catalogue import builtin_entries
from ai_usage_monitor.pricing.models import PriceEntry, PriceQuote, Tier
from ai_usage_monitor.pricing.overrides import (
    PricingFileError,
    clear_registered_prices,
    load_pricing_file,
    register_price,
    register_prices,
)
from ai_usage_monitor.pricing.pricer import Pricer, get_pricer

__all__ = [
    "PriceEntry",
    "PriceQuote",
    "Pricer",
    "PricingFileError",
    "Tier",
    "builtin_entries",
    "clear_registered_prices",
    "get_pricer",
    "load_pricing_file",
    "register_price",
    "register_prices",
]
