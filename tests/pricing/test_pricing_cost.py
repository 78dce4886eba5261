"""Costs computed by hand against Pricer.quote: tiers, thinking mode, cached input, history, currencies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ai_usage_monitor.pricing import PriceQuote, Pricer, get_pricer, register_price


def ts(moment: str) -> float:
    """Unix time of an ISO date or datetime, read as UTC."""
    return datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()


def quote(pricer: Pricer, model: str, provider: str = "dashscope", **kwargs: Any) -> PriceQuote:
    kwargs.setdefault("at", ts("2026-01-01"))
    return pricer.quote(provider=provider, model=model, **kwargs)


def test_qwen_plus_tier0_matches_the_design_example(pricer: Pricer) -> None:
    q = quote(pricer, "qwen-plus", input_tokens=2000, output_tokens=700)
    # 2000 × 0.0008/1K + 700 × 0.002/1K
    assert q.cost == pytest.approx(0.0016 + 0.0014)
    assert (q.currency, q.priced, q.price_ref) == ("CNY", True, "dashscope/qwen-plus@2025-09-01#tier0")


@pytest.mark.parametrize(
    ("input_tokens", "tier", "expected"),
    [
        (131_072, 0, 131_072 * 0.0008 / 1000 + 1000 * 0.002 / 1000),  # "128K" = 131,072 is still tier 0
        (
            131_073,
            1,
            131_073 * 0.0024 / 1000 + 1000 * 0.02 / 1000,
        ),  # one more token: the whole call at tier 1
        (262_144, 1, 262_144 * 0.0024 / 1000 + 1000 * 0.02 / 1000),
        (262_145, 2, 262_145 * 0.0048 / 1000 + 1000 * 0.048 / 1000),
    ],
)
def test_qwen_plus_tier_boundaries_are_k_1024(
    pricer: Pricer, input_tokens: int, tier: int, expected: float
) -> None:
    q = quote(pricer, "qwen-plus", input_tokens=input_tokens, output_tokens=1000)
    assert q.price_ref == f"dashscope/qwen-plus@2025-09-01#tier{tier}"
    assert q.cost == pytest.approx(expected)


def test_tier2_call_with_cache_and_thinking(pricer: Pricer) -> None:
    # 300K input of which 100K cached, 2K output: tier 2 (> 256K) for the whole request.
    plain = quote(pricer, "qwen-plus", input_tokens=300_000, output_tokens=2000, cached_tokens=100_000)
    # 200,000 × 0.0048 + 100,000 × 0.00096 + 2,000 × 0.048 = 960 + 96 + 96 (per 1K) → 1.152 CNY
    assert plain.cost == pytest.approx(1.152)
    assert plain.price_ref == "dashscope/qwen-plus@2025-09-01#tier2"
    thinking = quote(
        pricer, "qwen-plus", input_tokens=300_000, output_tokens=2000, cached_tokens=100_000, thinking=True
    )
    # thinking output 0.064/1K for all 2,000 output tokens: 960 + 96 + 128 → 1.184 CNY
    assert thinking.cost == pytest.approx(1.184)


def test_thinking_mode_prices_all_output_tokens(pricer: Pricer) -> None:
    base: dict[str, Any] = {"input_tokens": 1000, "output_tokens": 500}
    assert quote(pricer, "qwen-plus", **base).cost == pytest.approx((1000 * 0.0008 + 500 * 0.002) / 1000)
    expected = (1000 * 0.0008 + 500 * 0.008) / 1000
    assert quote(pricer, "qwen-plus", thinking=True, **base).cost == pytest.approx(expected)
    # reported reasoning tokens mean the call ran in thinking mode, even if the caller did not say so
    assert quote(pricer, "qwen-plus", reasoning_tokens=300, **base).cost == pytest.approx(expected)
    assert quote(pricer, "qwen-turbo", thinking=True, **base).cost == pytest.approx(
        (1000 * 0.0003 + 500 * 0.003) / 1000
    )


def test_thinking_without_a_thinking_price_uses_the_output_price(pricer: Pricer) -> None:
    q = quote(pricer, "qwen-max", input_tokens=1000, output_tokens=1000, thinking=True, reasoning_tokens=10)
    assert q.cost == pytest.approx((1000 * 0.0024 + 1000 * 0.0096) / 1000)


def test_cached_tokens_bill_at_twenty_percent(pricer: Pricer) -> None:
    q = quote(pricer, "qwen-plus", input_tokens=10_000, output_tokens=0, cached_tokens=4000)
    assert q.cost == pytest.approx((6000 * 0.0008 + 4000 * 0.00016) / 1000)
    unknown_cache = quote(pricer, "qwen-plus", input_tokens=10_000, output_tokens=0, cached_tokens=None)
    assert unknown_cache.cost == pytest.approx(10_000 * 0.0008 / 1000)
    # more cached than input (a provider glitch) never makes a cost negative or larger than all-cached
    clamped = quote(pricer, "qwen-plus", input_tokens=1000, output_tokens=0, cached_tokens=5000)
    assert clamped.cost == pytest.approx(1000 * 0.00016 / 1000)


@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(None, 10), (10, None), (None, None)])
def test_unknown_tokens_are_unpriced(
    pricer: Pricer, input_tokens: int | None, output_tokens: int | None
) -> None:
    q = quote(pricer, "qwen-plus", input_tokens=input_tokens, output_tokens=output_tokens)
    assert q == PriceQuote(cost=0.0, currency="CNY", priced=False, price_ref=None)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("dashscope", "qwen-plus-character"),
        ("dashscope", "my-model"),
        ("openai", "gpt-4o-turbo-x"),
        ("nobody", "x"),
    ],
)
def test_unknown_models_are_unpriced(pricer: Pricer, provider: str, model: str) -> None:
    q = quote(pricer, model, provider=provider, input_tokens=1000, output_tokens=1000)
    assert q == PriceQuote(cost=0.0, currency="CNY", priced=False, price_ref=None)


def test_history_keeps_the_price_in_force_at_the_time(pricer: Pricer) -> None:
    before = quote(pricer, "qwen-plus", input_tokens=2000, output_tokens=700, at=ts("2025-08-31T23:59:59"))
    after = quote(pricer, "qwen-plus", input_tokens=2000, output_tokens=700, at=ts("2025-09-01"))
    assert before.cost == pytest.approx((2000 * 0.0004 + 700 * 0.002) / 1000)  # the original doc's figures
    assert before.price_ref == "dashscope/qwen-plus@undated"
    assert after.cost == pytest.approx(0.003)
    old_max = quote(pricer, "qwen-max", input_tokens=1000, output_tokens=1000, at=ts("2024-06-01"))
    new_max = quote(pricer, "qwen-max", input_tokens=1000, output_tokens=1000, at=ts("2025-10-01"))
    assert old_max.cost == pytest.approx(0.02 + 0.06)
    assert new_max.cost == pytest.approx(0.0024 + 0.0096)


def test_at_defaults_to_now(pricer: Pricer) -> None:
    q = pricer.quote(provider="dashscope", model="qwen-plus", input_tokens=2000, output_tokens=700)
    assert q.price_ref == "dashscope/qwen-plus@2025-09-01#tier0"


def test_cny_prices_convert_to_usd(make_settings: Any) -> None:
    pricer = Pricer(make_settings(currency="USD", usd_cny_rate=7.0))
    q = quote(pricer, "qwen-plus", input_tokens=2000, output_tokens=700)
    assert q.currency == "USD"
    assert q.cost == pytest.approx(0.003 / 7.0)


def test_openai_usd_prices_from_genai_prices_convert_to_cny(pricer: Pricer) -> None:
    # gpt-4o in genai-prices: $2.5 input, $1.25 cached input, $10 output per 1M tokens; USD/CNY 7.0
    q = quote(pricer, "gpt-4o", provider="openai", input_tokens=2000, output_tokens=700, cached_tokens=1000)
    assert q.cost == pytest.approx((1000 * 2.5 + 1000 * 1.25 + 700 * 10) / 1e6 * 7.0)
    assert (q.currency, q.priced, q.price_ref) == ("CNY", True, "genai-prices/openai/gpt-4o@undated")


@pytest.mark.parametrize(
    ("provider", "model", "price_ref"),
    [
        ("dashscope", "qwen-plus-2025-07-14", "dashscope/qwen-plus@2025-09-01#tier0"),
        ("dashscope", "qwen-plus-latest", "dashscope/qwen-plus@2025-09-01#tier0"),
        ("dashscope", "qwen-max-0919", "dashscope/qwen-max@2025-09-01"),
        ("dashscope", "Qwen-Plus", "dashscope/qwen-plus@2025-09-01#tier0"),
        ("openai", "gpt-4o-2024-08-06", "genai-prices/openai/gpt-4o@undated"),  # a name genai-prices lists
        ("openai", "gpt-4o-2099-12-31", "genai-prices/openai/gpt-4o@undated"),  # found by stripping the date
        ("openai", "gpt-4o-2024-05-13", "genai-prices/openai/gpt-4o-2024-05-13@undated"),  # exact name first
    ],
)
def test_snapshot_names_match_their_base_model(
    pricer: Pricer, provider: str, model: str, price_ref: str
) -> None:
    q = quote(pricer, model, provider=provider, input_tokens=100, output_tokens=100)
    assert q.price_ref == price_ref


def test_snapshot_and_base_cost_the_same(pricer: Pricer) -> None:
    snapshot = quote(pricer, "gpt-4o-2024-08-06", provider="openai", input_tokens=5000, output_tokens=300)
    base = quote(pricer, "gpt-4o", provider="openai", input_tokens=5000, output_tokens=300)
    assert snapshot.cost == base.cost == pytest.approx((5000 * 2.5 + 300 * 10) / 1e6 * 7.0)
    older = quote(pricer, "gpt-4o-2024-05-13", provider="openai", input_tokens=5000, output_tokens=300)
    assert older.cost == pytest.approx((5000 * 5 + 300 * 15) / 1e6 * 7.0)


def test_qwen_through_another_provider_name_uses_the_catalogue(pricer: Pricer) -> None:
    via_openai = quote(pricer, "qwen-plus", provider="openai", input_tokens=2000, output_tokens=700)
    assert via_openai.price_ref == "dashscope/qwen-plus@2025-09-01#tier0"
    via_alias = quote(pricer, "qwen-turbo", provider="Aliyun", input_tokens=1000, output_tokens=0)
    assert via_alias.price_ref == "dashscope/qwen-turbo@2025-09-01"


def test_registered_prices_beat_the_catalogue_and_reach_existing_pricers(pricer: Pricer) -> None:
    assert quote(pricer, "my-model", input_tokens=1000, output_tokens=1000).priced is False
    register_price("my-model", input=0.001, output=0.003, currency="CNY", unit="1K")
    register_price("qwen-plus", provider="dashscope", input=0.001, output=0.003, currency="CNY", unit="1K")
    mine = quote(pricer, "my-model", provider="anything", input_tokens=1000, output_tokens=1000)
    assert (mine.cost, mine.price_ref) == (pytest.approx(0.004), "registered/my-model@undated")
    plus = quote(pricer, "qwen-plus-2025-07-14", input_tokens=2000, output_tokens=700)
    assert plus.cost == pytest.approx((2000 * 0.001 + 700 * 0.003) / 1000)
    assert plus.price_ref == "registered/dashscope/qwen-plus@undated"
    # a provider-specific registration does not leak to other providers
    other = quote(pricer, "qwen-plus", provider="openai", input_tokens=2000, output_tokens=700)
    assert other.price_ref == "dashscope/qwen-plus@2025-09-01#tier0"


def test_a_future_dated_price_hands_over_to_the_next_source_until_its_date(pricer: Pricer) -> None:
    register_price(
        "qwen-plus", input=0.0005, output=0.001, currency="CNY", unit="1K", effective_from="2026-06-01"
    )
    before = quote(pricer, "qwen-plus", input_tokens=1000, output_tokens=1000, at=ts("2026-05-31"))
    after = quote(pricer, "qwen-plus", input_tokens=1000, output_tokens=1000, at=ts("2026-06-01"))
    assert before.price_ref == "dashscope/qwen-plus@2025-09-01#tier0"
    assert (after.cost, after.price_ref) == (pytest.approx(0.0015), "registered/qwen-plus@2026-06-01")


def test_get_pricer_is_cached_per_settings_object(make_settings: Any) -> None:
    settings = make_settings()
    first = get_pricer(settings)
    assert get_pricer(settings) is first
    assert get_pricer(make_settings()) is not first
    settings.currency = "USD"
    switched = get_pricer(settings)
    assert switched is not first
    assert (
        switched.quote(provider="dashscope", model="qwen-plus", input_tokens=1, output_tokens=1).currency
        == "USD"
    )


def test_cache_write_tokens_bill_at_the_cache_creation_price(pricer: Pricer) -> None:
    register_price(
        provider="acme",
        model="acme-1",
        currency="CNY",
        unit="1M",
        input=10.0,
        output=20.0,
        cached_input=1.0,
        cache_creation_input=12.5,
    )
    q = quote(
        pricer,
        "acme-1",
        provider="acme",
        input_tokens=1000,
        output_tokens=100,
        cached_tokens=300,
        cache_write_tokens=200,
    )
    # 500 plain × 10 + 300 cached × 1 + 200 written × 12.5 + 100 output × 20, per 1M tokens
    assert q.cost == pytest.approx((500 * 10 + 300 * 1 + 200 * 12.5 + 100 * 20) / 1e6)
