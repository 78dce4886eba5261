"""User prices: a TOML override file (``Settings.pricing_file``) and prices registered in code.

Both share one format (see ``pricing/README.md``) and one validator, so a bad price fails where it is
given — at start-up, naming the file, the entry and the field — never later on the hot path.
``register_price`` replaces the original doc's ``ModelPricing.CUSTOM_PRICING`` dict, edited in place:
call it from your own code; every ``Pricer`` picks the price up on its next quote.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ai_usage_monitor.pricing.models import ANY_PROVIDER, PriceEntry, index_entries
from ai_usage_monitor.pricing.schema import (
    FieldError,
    PricingFileError,
    entries_from_table,
    read_price_document,
)

__all__ = [
    "PricingFileError",
    "clear_registered_prices",
    "load_pricing_file",
    "register_price",
    "register_prices",
    "registered_entries",
    "registered_index",
    "registry_version",
]


def load_pricing_file(path: Path | str) -> tuple[PriceEntry, ...]:
    """Read and check a pricing TOML file; raises ``PricingFileError`` naming file, entry and field."""
    path = Path(path)
    return read_price_document(path, origin="override", default_source=f"pricing file {path.name}")


class _Registry:
    """Prices registered in code, shared by every Pricer; ``version`` rises on each change."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str, float], PriceEntry] = {}
        self.version = 0
        self.index: dict[tuple[str, str], tuple[PriceEntry, ...]] = {}

    def replace(self, entries: dict[tuple[str, str, float], PriceEntry]) -> None:
        self.entries = entries
        self.index = index_entries(entries.values())
        self.version += 1


_registry = _Registry()


def register_price(
    model: str | Sequence[str],
    *,
    input: float | None = None,
    output: float | None = None,
    currency: str,
    unit: str,
    provider: str = ANY_PROVIDER,
    cached_input: float | None = None,
    thinking_output: float | None = None,
    cache_creation_input: float | None = None,
    explicit_cached_input: float | None = None,
    tiers: Sequence[Mapping[str, Any]] | None = None,
    effective_from: date | str | None = None,
    batch: float | None = None,
    daily_window: str | None = None,
    source: str = "registered in code",
) -> tuple[PriceEntry, ...]:
    """Price a model (or several) from code, with the same fields and checks as the override file.

    ``register_price("my-model", input=0.001, output=0.002, currency="CNY", unit="1K")`` prices
    ``my-model`` from any provider. Registering the same model, provider and date again replaces it.
    Raises ``ValueError`` naming the bad field.
    """
    table: dict[str, Any] = {
        "provider": provider,
        "currency": currency,
        "unit": unit,
        "source": source,
        "model" if isinstance(model, str) else "models": model if isinstance(model, str) else list(model),
        "input": input,
        "output": output,
        "cached_input": cached_input,
        "thinking_output": thinking_output,
        "cache_creation_input": cache_creation_input,
        "explicit_cached_input": explicit_cached_input,
        "batch": batch,
        "daily_window": daily_window,
        "tiers": [dict(t) for t in tiers] if tiers is not None else None,
        "effective_from": effective_from,
    }
    table = {k: v for k, v in table.items() if v is not None}
    try:
        entries = entries_from_table(table, origin="registered", default_source=source)
    except FieldError as exc:
        raise ValueError(f"register_price({model!r}): {exc}") from None
    with _registry.lock:
        updated = dict(_registry.entries)
        for entry in entries:
            updated[(entry.provider, entry.model, entry.effective_ts)] = entry
        _registry.replace(updated)
    return tuple(entries)


def register_prices(
    prices: Mapping[str, Mapping[str, Any]], *, currency: str, unit: str, provider: str = ANY_PROVIDER
) -> None:
    """Register a whole ``{model: {"input": …, "output": …}}`` table, the shape of ``CUSTOM_PRICING``."""
    for model, fields in prices.items():
        register_price(model, currency=currency, unit=unit, provider=provider, **fields)


def clear_registered_prices() -> None:
    with _registry.lock:
        _registry.replace({})


def registered_entries() -> tuple[PriceEntry, ...]:
    return tuple(_registry.entries.values())


def registered_index() -> dict[tuple[str, str], tuple[PriceEntry, ...]]:
    """Registered entries grouped by ``(provider, model)``; replaced, never mutated, on change."""
    return _registry.index


def registry_version() -> int:
    return _registry.version
