"""The pricer remembers which entry is in force between two price changes: quotes that go back and forth
across a change, or move to another model, still get the price of their own time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ai_usage_monitor.pricing import Pricer, register_price


def ts(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def cost(pricer: Pricer, model: str, at: float) -> tuple[float, str | None]:
    q = pricer.quote(provider="x", model=model, input_tokens=1000, output_tokens=1000, at=at)
    return q.cost, q.price_ref


def test_quotes_back_and_forth_across_price_changes(pricer: Pricer) -> None:
    register_price("m", input=1, output=1, currency="CNY", unit="1K", effective_from="2025-01-01")
    register_price("m", input=2, output=2, currency="CNY", unit="1K", effective_from="2025-06-01")
    register_price("m", input=3, output=3, currency="CNY", unit="1K", effective_from="2026-01-01")
    expected = {
        "2024-12-31": (0.0, None),
        "2025-01-01": (pytest.approx(2.0), "registered/m@2025-01-01"),
        "2025-05-31": (pytest.approx(2.0), "registered/m@2025-01-01"),
        "2025-06-01": (pytest.approx(4.0), "registered/m@2025-06-01"),
        "2026-01-01": (pytest.approx(6.0), "registered/m@2026-01-01"),
    }
    for day in ["2025-06-01", "2025-01-01", "2026-01-01", "2024-12-31", "2025-05-31", "2025-06-01"]:
        assert cost(pricer, "m", ts(day)) == expected[day], day


def test_a_price_registered_later_reaches_a_pricer_that_already_quoted(pricer: Pricer) -> None:
    register_price("m", input=1, output=1, currency="CNY", unit="1K")
    assert cost(pricer, "m", ts("2025-03-01"))[0] == pytest.approx(2.0)
    register_price("m", input=5, output=5, currency="CNY", unit="1K", effective_from="2025-02-01")
    assert cost(pricer, "m", ts("2025-03-01")) == (pytest.approx(10.0), "registered/m@2025-02-01")
    assert cost(pricer, "m", ts("2025-01-15"))[0] == pytest.approx(2.0)


def test_tiers_and_thinking_prices_through_the_remembered_entry(pricer: Pricer) -> None:
    register_price(
        "tiered",
        currency="CNY",
        unit="1K",
        tiers=[
            {"max_input_tokens": 1000, "input": 1, "output": 2, "cached_input": 0.5, "thinking_output": 4},
            {"input": 10, "output": 20},
        ],
    )

    def quote(input_tokens: int, **extra: Any) -> float:
        return pricer.quote(
            provider="x", model="tiered", input_tokens=input_tokens, output_tokens=1000, **extra
        ).cost

    assert quote(1000) == pytest.approx(1 + 2)
    assert quote(1000, cached_tokens=400) == pytest.approx(0.6 + 0.2 + 2)
    assert quote(1000, thinking=True) == pytest.approx(1 + 4)
    assert quote(1000, reasoning_tokens=10) == pytest.approx(1 + 4)
    assert quote(1001) == pytest.approx(10.01 + 20)
    assert quote(1001, thinking=True) == pytest.approx(10.01 + 20)  # no thinking price in the last tier
