"""The genai-prices adapter: same figures as genai-prices itself, from its bundled data only, memoised."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import DataSnapshot, set_custom_snapshot

from ai_usage_monitor.pricing import Pricer
from ai_usage_monitor.pricing import pricer as pricer_module
from ai_usage_monitor.pricing.genai_prices_adapter import genai_prices_entries

MOMENTS = [
    datetime(2025, 1, 15, 12, 0, tzinfo=UTC),
    datetime(2025, 7, 1, 3, 0, tzinfo=UTC),
    datetime(2025, 7, 1, 10, 0, tzinfo=UTC),
    datetime(2025, 7, 1, 20, 0, tzinfo=UTC),  # outside DeepSeek's 00:30-16:30 UTC peak window
    datetime(2026, 11, 1, 2, 0, tzinfo=UTC),
]
CALLS = [(1000, 0, 500), (150_000, 20_000, 4000), (200_000, 0, 100), (200_001, 50_000, 100), (900_000, 0, 10)]


@pytest.fixture
def usd_pricer(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Pricer:
    """A USD pricer without our built-in data files, so genai-prices answers for every provider here."""
    monkeypatch.setattr(pricer_module, "builtin_index", dict)
    monkeypatch.setattr(pricer_module, "builtin_providers", frozenset)
    return Pricer(make_settings(currency="USD"))


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini-2024-07-18"),
        ("openai", "o3"),  # a dated price change (2025-06-10)
        ("google", "gemini-2.5-pro"),  # tiered above 200K input tokens
        ("anthropic", "claude-sonnet-4-20250514"),
        ("deepseek", "deepseek-chat"),  # peak / off-peak by time of day
        ("deepseek", "deepseek-v4-flash"),  # dated changes and time-of-day windows together
    ],
)
def test_costs_equal_genai_prices_own_calculation(usd_pricer: Pricer, provider: str, model: str) -> None:
    for moment in MOMENTS:
        for input_tokens, cached, output_tokens in CALLS:
            expected = calc_price(
                Usage(input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens),
                model,
                provider_id=provider,
                genai_request_timestamp=moment,
            ).total_price
            q = usd_pricer.quote(
                provider=provider,
                model=model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=cached,
                at=moment.timestamp(),
            )
            assert q.priced, (model, moment)
            assert q.cost == pytest.approx(float(expected), rel=1e-9), (model, moment, input_tokens)


def test_dated_and_time_of_day_entries_name_themselves(usd_pricer: Pricer) -> None:
    o3_old = usd_pricer.quote(
        provider="openai", model="o3", input_tokens=1, output_tokens=1, at=MOMENTS[0].timestamp()
    )
    o3_new = usd_pricer.quote(
        provider="openai", model="o3", input_tokens=1, output_tokens=1, at=MOMENTS[1].timestamp()
    )
    assert o3_old.price_ref == "genai-prices/openai/o3@undated"
    assert o3_new.price_ref == "genai-prices/openai/o3@2025-06-10"

    def deepseek(moment: datetime) -> Any:
        return usd_pricer.quote(
            provider="deepseek",
            model="deepseek-chat",
            input_tokens=1000,
            output_tokens=0,
            at=moment.timestamp(),
        )

    peak, off_peak = deepseek(MOMENTS[2]), deepseek(MOMENTS[3])
    assert peak.price_ref == "genai-prices/deepseek/deepseek-chat@undated~00:30-16:30Z"
    assert off_peak.price_ref == "genai-prices/deepseek/deepseek-chat@undated"
    assert off_peak.cost < peak.cost


def test_lookups_are_memoised() -> None:
    first = genai_prices_entries("openai", "gpt-4.1")
    assert first is not None
    assert genai_prices_entries("openai", "gpt-4.1") is first
    assert genai_prices_entries("openai", "no-such-model-at-all") is None


@pytest.fixture
def fetched_snapshot_installed() -> Iterator[None]:
    """What genai-prices' UpdatePrices does after a network fetch: swap in another snapshot."""
    set_custom_snapshot(DataSnapshot(providers=[], from_auto_update=True))
    yield
    set_custom_snapshot(None)


def test_prices_come_from_the_bundled_data_even_if_an_app_fetched_others(
    fetched_snapshot_installed: None,
) -> None:
    entries = genai_prices_entries("openai", "gpt-4.1-mini")
    assert entries is not None
    assert entries[-1].currency == "USD"


def test_no_network_is_touched(tmp_path: Any) -> None:
    """In a fresh process whose sockets all fail, genai-prices data still loads and prices calls."""
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError("network used")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from ai_usage_monitor.config import Settings
        from ai_usage_monitor.pricing import Pricer

        pricer = Pricer(Settings(currency="USD", pricing_file=None))
        models = [
            ("openai", "gpt-4o"),
            ("anthropic", "claude-3-5-haiku-latest"),
            ("google", "gemini-2.0-flash"),
        ]
        for provider, model in models:
            q = pricer.quote(provider=provider, model=model, input_tokens=1000, output_tokens=1000)
            assert q.priced, (provider, model)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
