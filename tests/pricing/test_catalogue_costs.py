"""Every row of the catalogue table through ``Pricer.quote``: the cost equals the hand computation from
the catalogue entry's figures, and the record names that entry."""

from __future__ import annotations

from typing import Any

import pytest

from ai_usage_monitor.pricing import Pricer
from tests.pricing.catalogue_cases import CASES, USD_CNY, Case


@pytest.fixture
def cny_pricer(make_settings: Any) -> Pricer:
    return Pricer(make_settings(currency="CNY", usd_cny_rate=USD_CNY))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_cost_is_the_hand_computation_from_the_entry(cny_pricer: Pricer, case: Case) -> None:
    quote = cny_pricer.quote(
        provider=case.provider,
        model=case.model,
        input_tokens=case.input_tokens,
        output_tokens=case.output_tokens,
        cached_tokens=case.cached_tokens,
        reasoning_tokens=case.reasoning_tokens,
        cache_write_tokens=case.cache_write_tokens,
        thinking=case.thinking,
        batch=case.batch,
        explicit_cache=case.explicit_cache,
        at=case.timestamp,
    )
    if case.prices is None:
        assert (quote.priced, quote.cost, quote.price_ref) == (False, 0.0, None)
        return
    assert quote.priced
    assert quote.price_ref == case.ref
    assert quote.cost == pytest.approx(case.expected_cost_cny(), rel=1e-9)
    assert quote.cost > 0 or case.input_tokens == 0


def test_the_table_covers_every_family_and_situation() -> None:
    """The table keeps a row for each kind of figure the catalogue carries."""
    refs = {case.ref.split("@")[0] for case in CASES if case.prices is not None}
    for family in ("qwen-plus", "qwen-max", "qwen-turbo", "qwen-flash", "qwen-long", "qwen3-max",
                   "qwen3-vl-plus", "qwen3-coder-plus", "qwen-mt-plus", "text-embedding-v4",
                   "gte-rerank-v2"):  # fmt: skip
        assert f"dashscope/{family}" in refs, family
    assert "dashscope-intl/qwen-max" in refs
    assert any(c.batch for c in CASES) and any(c.thinking or c.reasoning_tokens for c in CASES)
    assert any(c.cache_write_tokens for c in CASES) and any(c.explicit_cache for c in CASES)
    assert any(c.ref.endswith("#tier3") for c in CASES)
