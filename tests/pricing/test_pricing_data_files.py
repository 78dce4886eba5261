"""The built-in data files and the shared format: every shipped entry dated and sourced, the new optional
fields in the user's override file, and errors that name the file, the entry and the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.pricing import Pricer, PricingFileError, load_pricing_file, register_price
from ai_usage_monitor.pricing.catalogue import builtin_entries, builtin_index, data_files, load_data_file
from ai_usage_monitor.pricing.models import EPOCH

OWN_CURRENCY = {"dashscope": "CNY", "dashscope-intl": "USD"}


def at(moment: str) -> float:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()


def test_every_shipped_entry_is_dated_sourced_and_in_its_files_provider() -> None:
    files = {path.name for path in data_files()}
    assert {"dashscope.toml", "dashscope-intl.toml"} <= files
    for path in data_files():
        entries = load_data_file(path)
        assert entries, path.name
        for entry in entries:
            assert entry.provider == entry.origin == path.stem, (path.name, entry.model)
            assert entry.source.startswith("https://") or entry.effective_from == EPOCH, entry.model
            assert entry.read_on is not None and entry.read_on <= date(2026, 12, 7), entry.model
    for entry in builtin_entries():
        if entry.provider in OWN_CURRENCY:
            assert entry.currency == OWN_CURRENCY[entry.provider], entry.model


def test_the_data_files_are_read_once_per_process() -> None:
    assert builtin_entries() is builtin_entries()
    assert builtin_index() is builtin_index()


def test_our_data_wins_for_every_model_it_prices(pricer: Pricer) -> None:
    """Where a data file and genai-prices both know a provider's model, the data file prices it."""
    for (provider, model), entries in builtin_index().items():
        when = max(entry.effective_ts for entry in entries) + 1
        entry = pricer.price_entry(provider=provider, model=model, at=when)
        assert entry is not None and entry.origin == provider, (provider, model)


OVERRIDE_WITH_DEFAULTS = """
provider = "dashscope"
currency = "CNY"
unit = "1M"
source = "our contract with Alibaba Cloud"
read_on = 2026-12-01

[[prices]]
model = "qwen3-max"
effective_from = 2026-12-01
batch = 0.4
note = "negotiated"

[[prices.tiers]]
max_input_tokens = 32768
input = 2.0
cached_input = 0.4
explicit_cached_input = 0.2
cache_creation_input = 2.5
output = 8.0

[[prices.tiers]]
input = 3.0
output = 12.0

[[prices]]
model = "night-model"
provider = "my-gateway"
daily_window = "16:30-00:30"
input = 1.0
output = 2.0

[[prices]]
model = "night-model"
provider = "my-gateway"
input = 4.0
output = 8.0
"""


def test_the_override_file_takes_file_defaults_and_the_new_fields(
    make_settings: Any, write_toml: Any
) -> None:
    path = write_toml(OVERRIDE_WITH_DEFAULTS)
    qwen, night, _day = load_pricing_file(path)
    assert (qwen.provider, qwen.currency, qwen.unit, qwen.source) == (
        "dashscope",
        "CNY",
        1_000_000,
        "our contract with Alibaba Cloud",
    )
    assert (qwen.batch, qwen.read_on, qwen.note) == (0.4, date(2026, 12, 1), "negotiated")
    assert night.daily_window == (16 * 3600 + 1800, 1800)
    pricer = Pricer(make_settings(pricing_file=str(path)))
    call: dict[str, Any] = {
        "provider": "dashscope",
        "model": "qwen3-max",
        "input_tokens": 30_000,
        "output_tokens": 1000,
    }
    now = at("2026-12-05T10:00:00")
    explicit = pricer.quote(**call, cached_tokens=10_000, cache_write_tokens=5000, at=now)
    assert explicit.price_ref == "override/dashscope/qwen3-max@2026-12-01#tier0"
    assert explicit.cost == pytest.approx((15_000 * 2.0 + 10_000 * 0.2 + 5000 * 2.5 + 1000 * 8.0) / 1e6)
    batch = pricer.quote(**call, cached_tokens=10_000, batch=True, at=now)
    assert batch.cost == pytest.approx((30_000 * 2.0 + 1000 * 8.0) / 1e6 * 0.4)
    gateway: dict[str, Any] = {
        "provider": "my-gateway",
        "model": "night-model",
        "input_tokens": 1_000_000,
        "output_tokens": 0,
    }
    assert pricer.quote(**gateway, at=at("2026-12-05T23:59:00")).cost == pytest.approx(1.0)
    assert pricer.quote(**gateway, at=at("2026-12-05T00:30:00")).cost == pytest.approx(4.0)
    assert pricer.quote(**gateway, at=at("2026-12-05T16:30:00")).cost == pytest.approx(1.0)


HEAD = '[[prices]]\nmodel = "m"\ncurrency = "CNY"\nunit = "1K"\n'
PRICED = HEAD + "input = 1\noutput = 1\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            PRICED + "batch = 1.5\n",
            "entry #1 ('m'): field 'batch': expected a fraction of the price in (0, 1], got 1.5",
        ),
        (
            PRICED + 'daily_window = "25:00-01:00"\n',
            "entry #1 ('m'): field 'daily_window': expected two different",
        ),
        (PRICED + 'daily_window = "night"\n', "field 'daily_window': expected \"HH:MM-HH:MM\" in UTC"),
        (
            HEAD + "[[prices.tiers]]\nmax_input_tokens = 10\ninput = 1\noutput = 1\n"
            "[[prices.tiers]]\ninput = 1\noutput = 1\nexplicit_cached_input = -1\n",
            "field 'tiers[1].explicit_cached_input': expected a non-negative number",
        ),
        (PRICED + 'read_on = "yesterday"\n', "field 'read_on': expected a date"),
        ('currencyy = "CNY"\n' + PRICED, "field 'currencyy': unknown file-level field"),
        (
            'currency = "CNY"\nunit = "1K"\n[[prices]]\nmodel = "m"\ninput = 1\noutput = 1\n'
            '[[prices]]\nmodel = "m"\ninput = 2\noutput = 2\n',
            "entry #2 ('m'): model 'm' (provider '*') already has a price from 1970-01-01 in entry #1",
        ),
    ],
)
def test_bad_new_fields_fail_naming_file_entry_and_field(write_toml: Any, body: str, message: str) -> None:
    path = write_toml(body, name="team-prices.toml")
    with pytest.raises(PricingFileError) as caught:
        load_pricing_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_data_file_must_name_its_provider_source_and_day(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(
        'provider = "acme"\ncurrency = "CNY"\nunit = "1M"\nsource = "https://acme.example/prices"\n'
        '[[prices]]\nmodel = "m"\ninput = 1\noutput = 1\n',
        encoding="utf-8",
    )
    with pytest.raises(PricingFileError, match=r"acme\.toml: field 'read_on': is required at the top"):
        load_data_file(path)


def test_register_price_takes_the_new_fields(pricer: Pricer) -> None:
    register_price(
        "m", input=1.0, output=2.0, currency="CNY", unit="1M", batch=0.5, daily_window="00:00-12:00"
    )
    morning = pricer.quote(provider="x", model="m", input_tokens=1_000_000, output_tokens=0, batch=True,
                           at=at("2026-12-05T06:00:00"))  # fmt: skip
    assert (morning.cost, morning.price_ref) == (pytest.approx(0.5), "registered/m@undated~00:00-12:00Z")
    assert not pricer.quote(provider="x", model="m", input_tokens=1, output_tokens=0,
                            at=at("2026-12-05T13:00:00")).priced  # fmt: skip
    with pytest.raises(ValueError, match=r"register_price\('m'\): field 'batch'"):
        register_price("m", input=1.0, output=2.0, currency="CNY", unit="1M", batch=0)


def test_the_readme_lists_every_dashscope_entry() -> None:
    readme = (Path(__file__).parents[2] / "ai_usage_monitor" / "pricing" / "README.md").read_text("utf-8")
    for entry in builtin_entries():
        if entry.provider.startswith("dashscope"):
            date_cell = "undated" if entry.effective_from == EPOCH else entry.effective_from.isoformat()
            assert f"| {entry.model} | {date_cell} |" in readme, (entry.provider, entry.model)
