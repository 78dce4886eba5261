"""The built-in price catalogue: one TOML data file per provider in ``pricing/data/``, read once per process.

Each file names its provider (the key records carry, e.g. ``dashscope``, ``dashscope-intl``) and prices
in that provider's own currency and unit; every entry is dated and sourced. A price change is a new
entry with a later date, never an edit, so records keep the price of their time (``pricing/README.md``).
The files go through the same validator as the user's override file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from ai_usage_monitor.pricing.models import PriceEntry, index_entries
from ai_usage_monitor.pricing.schema import read_price_document

__all__ = [
    "builtin_entries",
    "builtin_index",
    "builtin_providers",
    "data_files",
    "load_data_file",
]


def data_files() -> tuple[Path, ...]:
    """The shipped data files, sorted by name."""
    folder = resources.files("ai_usage_monitor.pricing") / "data"
    return tuple(sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(".toml")))


def load_data_file(path: Path) -> tuple[PriceEntry, ...]:
    """One data file's entries; their ``origin`` (the start of ``price_ref``) is the file's provider."""
    return read_price_document(
        path,
        origin=None,
        default_source=f"built-in data file {path.name}",
        required_defaults=("provider", "currency", "unit", "source", "read_on"),
    )


@cache
def builtin_entries() -> tuple[PriceEntry, ...]:
    """Every built-in entry of every data file (read and checked on first use, then kept)."""
    return tuple(entry for path in data_files() for entry in load_data_file(path))


@cache
def builtin_index() -> dict[tuple[str, str], tuple[PriceEntry, ...]]:
    """Built-in entries grouped by ``(provider, model)``, oldest first."""
    return index_entries(builtin_entries())


@cache
def builtin_providers() -> frozenset[str]:
    """The providers that have a data file of their own."""
    return frozenset(entry.provider for entry in builtin_entries())
