"""The override TOML file and in-code prices: what they price, and how a bad file fails at start-up."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.pricing import (
    Pricer,
    PricingFileError,
    Tier,
    load_pricing_file,
    register_price,
    register_prices,
)

GOOD_FILE = """
[[prices]]
provider = "dashscope"
model = "qwen-plus"
currency = "CNY"
unit = "1K"
effective_from = 2025-10-01
source = "our contract"

[[prices.tiers]]
max_input_tokens = 131072
input = 0.0006
output = 0.0015
cached_input = 0.0001
thinking_output = 0.006

[[prices.tiers]]
input = 0.002
output = 0.015

[[prices]]
models = ["my-finetune", "my-finetune-v2"]
currency = "USD"
unit = "1M"
input = 3.0
output = 12.0
"""


def at(moment: str) -> float:
    """Unix time of an ISO date or datetime, read as UTC."""
    return datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()


def test_the_file_is_parsed_into_entries(write_toml: Any) -> None:
    entries = load_pricing_file(write_toml(GOOD_FILE))
    plus, finetune, finetune_v2 = entries
    assert (plus.provider, plus.model, plus.currency, plus.unit) == ("dashscope", "qwen-plus", "CNY", 1000)
    assert plus.effective_from == date(2025, 10, 1)
    assert plus.source == "our contract"
    assert plus.tiers == (
        Tier(
            max_input_tokens=131072, input=0.0006, output=0.0015, cached_input=0.0001, thinking_output=0.006
        ),
        Tier(max_input_tokens=None, input=0.002, output=0.015),
    )
    assert (finetune.provider, finetune.model, finetune_v2.model) == ("*", "my-finetune", "my-finetune-v2")
    assert finetune.source == "pricing file prices.toml"


def test_the_override_file_beats_the_catalogue_from_its_date(make_settings: Any, write_toml: Any) -> None:
    pricer = Pricer(make_settings(pricing_file=write_toml(GOOD_FILE)))
    call: dict[str, Any] = {
        "provider": "dashscope",
        "input_tokens": 10_000,
        "output_tokens": 1000,
        "cached_tokens": 2000,
    }
    before = pricer.quote(model="qwen-plus", at=at("2025-09-30"), **call)
    assert before.price_ref == "dashscope/qwen-plus@2025-09-01#tier0"
    after = pricer.quote(model="qwen-plus-2025-07-14", at=at("2025-10-01"), **call)
    assert after.price_ref == "override/dashscope/qwen-plus@2025-10-01#tier0"
    assert after.cost == pytest.approx((8000 * 0.0006 + 2000 * 0.0001 + 1000 * 0.0015) / 1000)
    thinking = pricer.quote(model="qwen-plus", at=at("2025-10-01"), thinking=True, **call)
    assert thinking.cost == pytest.approx((8000 * 0.0006 + 2000 * 0.0001 + 1000 * 0.006) / 1000)
    long_call = pricer.quote(
        model="qwen-plus", at=at("2025-10-01"), provider="dashscope", input_tokens=200_000, output_tokens=1000
    )
    assert long_call.price_ref == "override/dashscope/qwen-plus@2025-10-01#tier1"
    assert long_call.cost == pytest.approx((200_000 * 0.002 + 1000 * 0.015) / 1000)
    finetune = pricer.quote(provider="openai", model="my-finetune", input_tokens=1_000_000, output_tokens=0)
    assert (finetune.cost, finetune.price_ref) == (pytest.approx(3.0 * 7.0), "override/my-finetune@undated")


def test_code_registered_prices_beat_the_file(make_settings: Any, write_toml: Any) -> None:
    pricer = Pricer(make_settings(pricing_file=write_toml(GOOD_FILE)))
    register_price("my-finetune", input=1.0, output=2.0, currency="USD", unit="1M")
    q = pricer.quote(provider="openai", model="my-finetune", input_tokens=1_000_000, output_tokens=0)
    assert (q.cost, q.price_ref) == (pytest.approx(7.0), "registered/my-finetune@undated")


def test_register_prices_takes_the_custom_pricing_table_shape(pricer: Pricer) -> None:
    register_prices(
        {"model-a": {"input": 0.001, "output": 0.002}, "model-b": {"input": 0.01, "output": 0.02}},
        currency="CNY",
        unit="1K",
    )
    q = pricer.quote(provider="openai", model="model-b", input_tokens=1000, output_tokens=1000)
    assert q.cost == pytest.approx(0.03)


def test_registering_the_same_price_again_replaces_it(pricer: Pricer) -> None:
    register_price("m", input=1, output=1, currency="CNY", unit="1K")
    register_price("m", input=2, output=2, currency="CNY", unit="1K")
    assert pricer.quote(provider="x", model="m", input_tokens=1000, output_tokens=0).cost == pytest.approx(
        2.0
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[prices]]\nmodel = "ok"\ncurrency = "CNY"\nunit = "1K"\ninput = 1\noutput = 1\n'
            '[[prices]]\nmodel = "my-finetune"\ncurrency = "USD"\nunit = "1M"\ninput = 3.0\n',
            "[[prices]] entry #2 ('my-finetune'): field 'output': is required",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = 1\nouput = 2\n',
            "entry #1 ('m'): field 'ouput': unknown field",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = -1\noutput = 2\n',
            "entry #1 ('m'): field 'input': expected a non-negative number, got -1",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = "cheap"\noutput = 2\n',
            "field 'input': expected a non-negative number, got 'cheap'",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "EUR"\nunit = "1K"\ninput = 1\noutput = 2\n',
            "entry #1 ('m'): field 'currency': expected one of ['CNY', 'USD'], got 'EUR'",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "per-token"\ninput = 1\noutput = 2\n',
            "field 'unit': expected one of ['1K', '1M']",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\ninput = 1\noutput = 2\n',
            "field 'unit': is required",
        ),
        (
            '[[prices]]\nmodel = "m"\nmodels = ["n"]\ncurrency = "CNY"\nunit = "1K"\ninput = 1\noutput = 2\n',
            "field 'model': give exactly one of 'model' (a name) or 'models'",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\n'
            "[[prices.tiers]]\nmax_input_tokens = 200\ninput = 1\noutput = 1\n"
            "[[prices.tiers]]\nmax_input_tokens = 100\ninput = 2\noutput = 2\n",
            "entry #1 ('m'): field 'tiers[1].max_input_tokens': must exceed the previous tier's (200)",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\n'
            "[[prices.tiers]]\ninput = 1\noutput = 1\n[[prices.tiers]]\ninput = 2\noutput = 2\n",
            "field 'tiers[0].max_input_tokens': is required on every tier but the last",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = 1\noutput = 1\n'
            "[[prices.tiers]]\ninput = 2\noutput = 2\n",
            "field 'input': give prices either at the top level or in 'tiers', not both",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = 1\noutput = 1\n'
            'effective_from = "next week"\n',
            "field 'effective_from': expected a date like 2025-09-01",
        ),
        (
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = 1\noutput = 1\n'
            '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = 2\noutput = 2\n',
            "entry #2 ('m'): model 'm' (provider '*') already has a price from 1970-01-01 in entry #1",
        ),
        ('[[price]]\nmodel = "m"\n', "expected one or more [[prices]] tables, found none"),
        ("[[prices]\nmodel = 1\n", "cannot be read as TOML"),
    ],
)
def test_a_bad_file_fails_naming_file_entry_and_field(write_toml: Any, body: str, message: str) -> None:
    path = write_toml(body, name="team-prices.toml")
    with pytest.raises(PricingFileError) as caught:
        load_pricing_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_bad_file_stops_the_pricer_at_start_up(make_settings: Any, write_toml: Any) -> None:
    path = write_toml('[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\ninput = 1\n')
    with pytest.raises(
        PricingFileError, match=r"prices\.toml: \[\[prices\]\] entry #1 \('m'\): field 'output'"
    ):
        Pricer(make_settings(pricing_file=path))


def test_a_missing_file_is_named(make_settings: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PricingFileError, match=f"{missing}: pricing file not found"):
        Pricer(make_settings(pricing_file=missing))


def test_register_price_checks_fields_like_the_file() -> None:
    with pytest.raises(ValueError, match=r"register_price\('m'\): field 'output': is required"):
        register_price("m", input=1, currency="CNY", unit="1K")
    with pytest.raises(ValueError, match=r"field 'tiers\[0\]\.input': expected a non-negative number"):
        register_price(["m"], currency="CNY", unit="1K", tiers=[{"input": -2, "output": 1}])
