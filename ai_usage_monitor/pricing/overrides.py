"""User prices: a TOML override file (``Settings.pricing_file``) and prices registered in code.

Both share one format (see ``pricing/README.md``) and one validator, so a bad price fails where it is
given — at start-up, naming the file, the entry and the field — never later on the hot path.
``register_price`` replaces the original doc's ``ModelPricing.CUSTOM_PRICING`` dict, edited in place:
call it from your own code; every ``Pricer`` picks the price up on its next quote.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ai_usage_monitor.pricing.matching import normalise_provider
from ai_usage_monitor.pricing.models import ANY_PROVIDER, EPOCH, UNITS, PriceEntry, Tier, index_entries

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

_PRICE_FIELDS = ("input", "output", "cached_input", "thinking_output", "cache_creation_input")
_ENTRY_FIELDS = frozenset(
    {"provider", "model", "models", "currency", "unit", "effective_from", "source", "tiers", *_PRICE_FIELDS}
)
_TIER_FIELDS = frozenset({"max_input_tokens", *_PRICE_FIELDS})


class PricingFileError(ValueError):
    """A pricing file (or a registered price) that cannot be used; the message says where and why."""


class _FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")


def _entries_from_table(table: Mapping[str, Any], *, origin: str, default_source: str) -> list[PriceEntry]:
    unknown = sorted(set(table) - _ENTRY_FIELDS)
    if unknown:
        raise _FieldError(unknown[0], f"unknown field (known: {', '.join(sorted(_ENTRY_FIELDS))})")
    models = _model_names(table)
    provider = _string(table, "provider", default=ANY_PROVIDER)
    currency = _string(table, "currency").upper()
    unit_name = _string(table, "unit").upper()
    if unit_name not in UNITS:
        raise _FieldError("unit", f"expected one of {sorted(UNITS)}, got {unit_name!r}")
    tiers = _tiers(table)
    effective_from = _effective_from(table.get("effective_from"))
    source = _string(table, "source", default=default_source)
    entries = []
    for model in models:
        try:
            entry = PriceEntry(
                provider=normalise_provider(provider) if provider != ANY_PROVIDER else ANY_PROVIDER,
                model=model,
                currency=currency,
                unit=UNITS[unit_name],
                tiers=tiers,
                effective_from=effective_from,
                source=source,
                origin=origin,
            )
        except ValueError as exc:  # field-named messages from PriceEntry's own checks
            field, _, message = str(exc).partition(": ")
            raise _FieldError(field, message) from exc
        entries.append(entry)
    return entries


def _model_names(table: Mapping[str, Any]) -> list[str]:
    if ("model" in table) == ("models" in table):
        raise _FieldError("model", "give exactly one of 'model' (a name) or 'models' (a list of names)")
    if "model" in table:
        return [_string(table, "model").lower()]
    names = table["models"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise _FieldError("models", f"expected a non-empty list of model names, got {names!r}")
    return [n.strip().lower() for n in names]


def _string(table: Mapping[str, Any], field: str, default: str | None = None) -> str:
    value = table.get(field, default)
    if value is None:
        raise _FieldError(field, "is required")
    if not isinstance(value, str) or not value.strip():
        raise _FieldError(field, f"expected a non-empty string, got {value!r}")
    return value.strip()


def _tiers(table: Mapping[str, Any]) -> tuple[Tier, ...]:
    raw_tiers = table.get("tiers")
    if raw_tiers is None:
        return (_tier(table, "", max_input_tokens=None),)
    given = [f for f in _PRICE_FIELDS if f in table]
    if given:
        raise _FieldError(given[0], "give prices either at the top level or in 'tiers', not both")
    if not isinstance(raw_tiers, list) or not raw_tiers:
        raise _FieldError("tiers", f"expected a non-empty list of tables, got {raw_tiers!r}")
    tiers = []
    for i, raw in enumerate(raw_tiers):
        prefix = f"tiers[{i}]."
        if not isinstance(raw, Mapping):
            raise _FieldError(f"tiers[{i}]", f"expected a table, got {raw!r}")
        unknown = sorted(set(raw) - _TIER_FIELDS)
        if unknown:
            raise _FieldError(
                prefix + unknown[0], f"unknown field (known: {', '.join(sorted(_TIER_FIELDS))})"
            )
        limit = raw.get("max_input_tokens")
        if limit is None and i != len(raw_tiers) - 1:
            raise _FieldError(prefix + "max_input_tokens", "is required on every tier but the last")
        tiers.append(_tier(raw, prefix, max_input_tokens=limit))
    return tuple(tiers)


def _tier(table: Mapping[str, Any], prefix: str, max_input_tokens: Any) -> Tier:
    for field in ("input", "output"):
        if field not in table:
            raise _FieldError(prefix + field, "is required")
    try:
        return Tier(
            max_input_tokens=max_input_tokens,
            input=table["input"],
            output=table["output"],
            cached_input=table.get("cached_input"),
            thinking_output=table.get("thinking_output"),
            cache_creation_input=table.get("cache_creation_input"),
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise _FieldError(prefix + field, message) from exc


def _effective_from(value: Any) -> date:
    if value is None:
        return EPOCH
    if isinstance(value, date):  # TOML dates and datetimes arrive parsed
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            pass
    raise _FieldError("effective_from", f"expected a date like 2025-09-01 (or a datetime), got {value!r}")


def _describe(table: Any) -> str:
    if isinstance(table, Mapping):
        name = table.get("model", table.get("models"))
        if name is not None:
            return f" ({name!r})"
    return ""


def load_pricing_file(path: Path | str) -> tuple[PriceEntry, ...]:
    """Read and check a pricing TOML file; raises ``PricingFileError`` naming file, entry and field."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise PricingFileError(f"{path}: pricing file not found") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PricingFileError(f"{path}: cannot be read as TOML: {exc}") from exc
    tables = document.get("prices")
    if not isinstance(tables, list) or not tables:
        raise PricingFileError(f"{path}: expected one or more [[prices]] tables, found none")
    entries: list[PriceEntry] = []
    seen: dict[tuple[str, str, float], int] = {}
    for number, table in enumerate(tables, start=1):
        where = f"{path}: [[prices]] entry #{number}{_describe(table)}"
        if not isinstance(table, Mapping):
            raise PricingFileError(f"{where}: expected a table")
        try:
            parsed = _entries_from_table(table, origin="override", default_source=f"pricing file {path.name}")
        except _FieldError as exc:
            raise PricingFileError(f"{where}: {exc}") from None
        for entry in parsed:
            key = (entry.provider, entry.model, entry.effective_ts)
            if key in seen:
                raise PricingFileError(
                    f"{where}: model {entry.model!r} (provider {entry.provider!r}) already has a price from "
                    f"{entry.effective_from.isoformat()} in entry #{seen[key]}"
                )
            seen[key] = number
        entries.extend(parsed)
    return tuple(entries)


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
    tiers: Sequence[Mapping[str, Any]] | None = None,
    effective_from: date | str | None = None,
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
        "tiers": [dict(t) for t in tiers] if tiers is not None else None,
        "effective_from": effective_from,
    }
    table = {k: v for k, v in table.items() if v is not None}
    try:
        entries = _entries_from_table(table, origin="registered", default_source=source)
    except _FieldError as exc:
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
