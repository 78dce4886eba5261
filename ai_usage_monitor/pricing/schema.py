"""The one validator of the price data format, shared by the built-in data files, the user's override file
and ``register_price``: a bad price fails where it is given, naming the file, the entry and the field.

A document is optional file-level defaults (``provider``, ``currency``, ``unit``, ``source``,
``read_on``) and ``[[prices]]`` tables; see ``pricing/README.md`` for every field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ai_usage_monitor.pricing.matching import normalise_provider
from ai_usage_monitor.pricing.models import ANY_PROVIDER, EPOCH, TIER_PRICE_FIELDS, UNITS, PriceEntry, Tier

__all__ = ["FieldError", "PricingFileError", "entries_from_table", "read_price_document"]

#: Fields a file may set once for all its entries.
_DEFAULT_FIELDS = frozenset({"provider", "currency", "unit", "source", "read_on"})
_ENTRY_FIELDS = frozenset(
    {
        *_DEFAULT_FIELDS,
        "model",
        "models",
        "effective_from",
        "tiers",
        "batch",
        "daily_window",
        "note",
        *TIER_PRICE_FIELDS,
    }
)
_TIER_FIELDS = frozenset({"max_input_tokens", *TIER_PRICE_FIELDS})
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class PricingFileError(ValueError):
    """A pricing file (or a registered price) that cannot be used; the message says where and why."""


class FieldError(ValueError):
    """One bad field; the caller adds where (file, entry) it is."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")


def entries_from_table(
    table: Mapping[str, Any],
    *,
    origin: str,
    default_source: str,
    defaults: Mapping[str, Any] | None = None,
) -> list[PriceEntry]:
    """The entries one ``[[prices]]`` table (over the file's ``defaults``) describes, one per model."""
    unknown = sorted(set(table) - _ENTRY_FIELDS)
    if unknown:
        raise FieldError(unknown[0], f"unknown field (known: {', '.join(sorted(_ENTRY_FIELDS))})")
    merged = {**(defaults or {}), **table}
    models = _model_names(merged)
    provider = _string(merged, "provider", default=ANY_PROVIDER)
    currency = _string(merged, "currency").upper()
    unit_name = _string(merged, "unit").upper()
    if unit_name not in UNITS:
        raise FieldError("unit", f"expected one of {sorted(UNITS)}, got {unit_name!r}")
    fields: dict[str, Any] = {
        "provider": normalise_provider(provider) if provider != ANY_PROVIDER else ANY_PROVIDER,
        "currency": currency,
        "unit": UNITS[unit_name],
        "tiers": _tiers(merged),
        "effective_from": _date(merged, "effective_from") or EPOCH,
        "source": _string(merged, "source", default=default_source),
        "origin": origin,
        "daily_window": _window(merged.get("daily_window")),
        "batch": merged.get("batch"),
        "read_on": _date(merged, "read_on"),
        "note": _string(merged, "note") if "note" in merged else "",
    }
    entries = []
    for model in models:
        try:
            entries.append(PriceEntry(model=model, **fields))
        except ValueError as exc:  # field-named messages from PriceEntry's own checks
            field, _, message = str(exc).partition(": ")
            raise FieldError(field, message) from exc
    return entries


def _model_names(table: Mapping[str, Any]) -> list[str]:
    if ("model" in table) == ("models" in table):
        raise FieldError("model", "give exactly one of 'model' (a name) or 'models' (a list of names)")
    if "model" in table:
        return [_string(table, "model").lower()]
    names = table["models"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise FieldError("models", f"expected a non-empty list of model names, got {names!r}")
    return [n.strip().lower() for n in names]


def _string(table: Mapping[str, Any], field: str, default: str | None = None) -> str:
    value = table.get(field, default)
    if value is None:
        raise FieldError(field, "is required")
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, f"expected a non-empty string, got {value!r}")
    return value.strip()


def _tiers(table: Mapping[str, Any]) -> tuple[Tier, ...]:
    raw_tiers = table.get("tiers")
    if raw_tiers is None:
        return (_tier(table, "", max_input_tokens=None),)
    given = [f for f in TIER_PRICE_FIELDS if f in table]
    if given:
        raise FieldError(given[0], "give prices either at the top level or in 'tiers', not both")
    if not isinstance(raw_tiers, list) or not raw_tiers:
        raise FieldError("tiers", f"expected a non-empty list of tables, got {raw_tiers!r}")
    tiers = []
    for i, raw in enumerate(raw_tiers):
        prefix = f"tiers[{i}]."
        if not isinstance(raw, Mapping):
            raise FieldError(f"tiers[{i}]", f"expected a table, got {raw!r}")
        unknown = sorted(set(raw) - _TIER_FIELDS)
        if unknown:
            raise FieldError(prefix + unknown[0], f"unknown field (known: {', '.join(sorted(_TIER_FIELDS))})")
        limit = raw.get("max_input_tokens")
        if limit is None and i != len(raw_tiers) - 1:
            raise FieldError(prefix + "max_input_tokens", "is required on every tier but the last")
        tiers.append(_tier(raw, prefix, max_input_tokens=limit))
    return tuple(tiers)


def _tier(table: Mapping[str, Any], prefix: str, max_input_tokens: Any) -> Tier:
    for field in ("input", "output"):
        if field not in table:
            raise FieldError(prefix + field, "is required")
    try:
        prices: dict[str, Any] = {f: table.get(f) for f in TIER_PRICE_FIELDS}
        return Tier(max_input_tokens=max_input_tokens, **prices)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise FieldError(prefix + field, message) from exc


def _date(table: Mapping[str, Any], field: str) -> date | None:
    value = table.get(field)
    if value is None:
        return None
    if isinstance(value, date):  # TOML dates and datetimes arrive parsed
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            pass
    raise FieldError(field, f"expected a date like 2025-09-01 (or a datetime), got {value!r}")


def _window(value: Any) -> tuple[int, int] | None:
    """``"16:30-00:30"`` (UTC, ``[start, end)``, may wrap) as seconds after midnight."""
    if value is None:
        return None
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise FieldError("daily_window", f'expected "HH:MM-HH:MM" in UTC, got {value!r}')
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
        raise FieldError("daily_window", f"expected two different times of day, got {value!r}")
    return h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60


def _describe(table: Any) -> str:
    if isinstance(table, Mapping):
        name = table.get("model", table.get("models"))
        if name is not None:
            return f" ({name!r})"
    return ""


def read_price_document(
    path: Path, *, origin: str | None, default_source: str, required_defaults: tuple[str, ...] = ()
) -> tuple[PriceEntry, ...]:
    """Read and check one price TOML file; raises ``PricingFileError`` naming file, entry and field.

    ``origin`` ``None``: the file's own ``provider``. ``required_defaults`` are file-level fields the
    file must set. Two entries for the same model, provider, date and time of day are an error.
    """
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
    defaults = {key: value for key, value in document.items() if key != "prices"}
    unknown = sorted(set(defaults) - _DEFAULT_FIELDS)
    if unknown:
        known = ", ".join(sorted(_DEFAULT_FIELDS))
        raise PricingFileError(f"{path}: field '{unknown[0]}': unknown file-level field (known: {known})")
    for field in required_defaults:
        if field not in defaults:
            raise PricingFileError(f"{path}: field '{field}': is required at the top of the file")
    if origin is None:
        provider = defaults.get("provider")
        if not isinstance(provider, str) or not provider.strip():
            raise PricingFileError(
                f"{path}: field 'provider': expected the provider's name, got {provider!r}"
            )
        origin = normalise_provider(provider)
    entries: list[PriceEntry] = []
    seen: dict[tuple[str, str, float, tuple[int, int] | None], int] = {}
    for number, table in enumerate(tables, start=1):
        where = f"{path}: [[prices]] entry #{number}{_describe(table)}"
        if not isinstance(table, Mapping):
            raise PricingFileError(f"{where}: expected a table")
        try:
            parsed = entries_from_table(
                table, origin=origin, default_source=default_source, defaults=defaults
            )
        except FieldError as exc:
            raise PricingFileError(f"{where}: {exc}") from None
        for entry in parsed:
            key = (entry.provider, entry.model, entry.effective_ts, entry.daily_window)
            if key in seen:
                raise PricingFileError(
                    f"{where}: model {entry.model!r} (provider {entry.provider!r}) already has a price from "
                    f"{entry.effective_from.isoformat()} in entry #{seen[key]}"
                )
            seen[key] = number
        entries.extend(parsed)
    return tuple(entries)
