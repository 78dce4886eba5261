"""Shared fixtures of the pricing tests: settings without environment surprises, a clean registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import Pricer, clear_registered_prices


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    clear_registered_prices()
    yield
    clear_registered_prices()


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"currency": "CNY", "usd_cny_rate": 7.0, "pricing_file": None, "timezone": "UTC"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_settings() -> Any:
    """Settings for a test: CNY, USD/CNY 7.0, no pricing file, whatever the environment says."""
    return _settings


@pytest.fixture
def pricer() -> Pricer:
    return Pricer(_settings())


@pytest.fixture
def write_toml(tmp_path: Path) -> Any:
    def write(text: str, name: str = "prices.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
