"""The table of the built-in catalogue's cost test: one row per priced situation, each with the figures of
the catalogue entry it must bill at typed in by hand, and the hand computation those figures give.

``tests/pricing/test_catalogue_costs.py`` runs every row through ``Pricer.quote``; rows marked ``sdk``
also run through the real DashScope SDK against the fake server
(``tests/instrumentation/test_dashscope_catalogue_costs.py``). Add rows for new data files here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["AT", "CASES", "USD_CNY", "Case", "Prices"]

#: When the rows' calls are made (UTC), unless a row says otherwise.
AT = "2026-12-07T12:00:00"
#: The USD/CNY rate the test pricer converts USD prices at.
USD_CNY = 7.0


@dataclass(frozen=True)
class Prices:
    """The figures of one tier of a catalogue entry, per ``unit`` tokens in ``currency``."""

    input: float
    output: float
    cached: float | None = None  # the cache-hit price this call pays (implicit or explicit)
    write: float | None = None  # cache creation
    unit: int = 1000
    currency: str = "CNY"
    batch: float = 1.0  # the fraction a batch call pays


@dataclass(frozen=True)
class Case:
    id: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    prices: Prices | None  # None: the call must stay unpriced
    ref: str = ""  # the price_ref the record must carry
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    thinking: bool = False
    batch: bool = False
    explicit_cache: bool = False
    at: str = AT
    sdk: bool = False  # also through the real DashScope SDK (now, not at ``at``)

    @property
    def timestamp(self) -> float:
        return datetime.fromisoformat(self.at).replace(tzinfo=UTC).timestamp()

    def expected_cost_cny(self, usd_cny: float = USD_CNY) -> float:
        """The hand computation: fresh, cached and written input plus output, per unit, in CNY."""
        p = self.prices
        assert p is not None
        cached_price = p.input if self.batch or p.cached is None else p.cached
        write_price = p.input if self.batch or p.write is None else p.write
        fresh = self.input_tokens - self.cached_tokens - self.cache_write_tokens
        amount = (
            fresh * p.input
            + self.cached_tokens * cached_price
            + self.cache_write_tokens * write_price
            + self.output_tokens * p.output
        ) / p.unit
        if self.batch:
            amount *= p.batch
        return amount * (usd_cny if p.currency == "USD" else 1.0)


# Figures from ai_usage_monitor/pricing/data/dashscope.toml (CNY per 1K tokens).
QWEN_PLUS_T0 = Prices(0.0008, 0.002, cached=0.00016, batch=0.5)
QWEN_PLUS_T1 = Prices(0.0024, 0.02, cached=0.00048, batch=0.5)
QWEN_PLUS_T2_THINKING = Prices(0.0048, 0.064, cached=0.00096, batch=0.5)
QWEN3_MAX_T0 = Prices(0.0025, 0.01, cached=0.0005, write=0.003125, batch=0.5)
QWEN3_MAX_T1 = Prices(0.004, 0.016, cached=0.0008, write=0.005, batch=0.5)
QWEN3_MAX_T1_EXPLICIT = Prices(0.004, 0.016, cached=0.0004, write=0.005, batch=0.5)
QWEN3_MAX_T2 = Prices(0.007, 0.028, cached=0.0014, write=0.00875, batch=0.5)
# From ai_usage_monitor/pricing/data/dashscope-intl.toml (USD per 1M tokens).
INTL_QWEN_MAX = Prices(1.6, 6.4, cached=0.64, unit=1_000_000, currency="USD", batch=0.5)

CASES: list[Case] = [
    # qwen-plus: tiers by input length (K = 1024), thinking, implicit cache, batch, snapshots, history
    Case("qwen-plus at the 128K edge", "dashscope", "qwen-plus", 131_072, 1000, QWEN_PLUS_T0,
         "dashscope/qwen-plus@2025-09-01#tier0"),
    Case("qwen-plus one token over 128K", "dashscope", "qwen-plus", 131_073, 1000, QWEN_PLUS_T1,
         "dashscope/qwen-plus@2025-09-01#tier1"),
    Case("qwen-plus thinking above 256K", "dashscope", "qwen-plus", 300_000, 2000, QWEN_PLUS_T2_THINKING,
         "dashscope/qwen-plus@2025-09-01#tier2", reasoning_tokens=1500),
    Case("qwen-plus implicit cache", "dashscope", "qwen-plus", 10_000, 500, QWEN_PLUS_T0,
         "dashscope/qwen-plus@2025-09-01#tier0", cached_tokens=4000, sdk=True),
    Case("qwen-plus batch: half, no cache discount", "dashscope", "qwen-plus", 10_000, 500, QWEN_PLUS_T0,
         "dashscope/qwen-plus@2025-09-01#tier0", cached_tokens=4000, batch=True),
    Case("qwen-plus dated snapshot", "dashscope", "qwen-plus-2025-07-14", 2000, 100, QWEN_PLUS_T0,
         "dashscope/qwen-plus@2025-09-01#tier0"),
    Case("qwen-plus-latest", "dashscope", "qwen-plus-latest", 2000, 100, QWEN_PLUS_T0,
         "dashscope/qwen-plus@2025-09-01#tier0"),
    Case("qwen-plus before 2025-09-01: the legacy price", "dashscope", "qwen-plus", 2000, 100,
         Prices(0.0004, 0.002, cached=0.00008), "dashscope/qwen-plus@undated", cached_tokens=1000,
         at="2025-06-01T00:00:00"),
    # Max / Turbo / Flash / Long / VL
    Case("qwen-max", "dashscope", "qwen-max", 5000, 1000, Prices(0.0024, 0.0096, batch=0.5),
         "dashscope/qwen-max@2025-09-01"),
    Case("qwen-max batch", "dashscope", "qwen-max", 5000, 1000, Prices(0.0024, 0.0096, batch=0.5),
         "dashscope/qwen-max@2025-09-01", batch=True),
    Case("qwen-turbo thinking", "dashscope", "qwen-turbo", 2000, 3000, Prices(0.0003, 0.003),
         "dashscope/qwen-turbo@2025-09-01", thinking=True),
    Case("qwen-flash above 256K with cache", "dashscope", "qwen-flash", 300_000, 800,
         Prices(0.0012, 0.012, cached=0.00024), "dashscope/qwen-flash@2025-09-01#tier2",
         cached_tokens=100_000),
    Case("qwen-long", "dashscope", "qwen-long", 50_000, 1000, Prices(0.0005, 0.002),
         "dashscope/qwen-long@2025-09-01"),
    Case("qwen-vl-max", "dashscope", "qwen-vl-max", 3000, 300, Prices(0.0016, 0.004),
         "dashscope/qwen-vl-max@2025-09-01"),
    # qwen3-max: 32K / 128K tiers, implicit and explicit cache, cache creation, batch
    Case("qwen3-max at the 32K edge", "dashscope", "qwen3-max", 32_768, 500, QWEN3_MAX_T0,
         "dashscope/qwen3-max@2026-12-07#tier0", sdk=True),
    Case("qwen3-max one token over 32K", "dashscope", "qwen3-max", 32_769, 500, QWEN3_MAX_T1,
         "dashscope/qwen3-max@2026-12-07#tier1"),
    Case("qwen3-max over 128K", "dashscope", "qwen3-max", 131_073, 500, QWEN3_MAX_T2,
         "dashscope/qwen3-max@2026-12-07#tier2"),
    Case("qwen3-max implicit cache hit", "dashscope", "qwen3-max", 40_000, 100, QWEN3_MAX_T1,
         "dashscope/qwen3-max@2026-12-07#tier1", cached_tokens=20_000, sdk=True),
    Case("qwen3-max explicit cache hit", "dashscope", "qwen3-max", 40_000, 100, QWEN3_MAX_T1_EXPLICIT,
         "dashscope/qwen3-max@2026-12-07#tier1", cached_tokens=20_000, explicit_cache=True),
    Case("qwen3-max explicit cache creation and hit", "dashscope", "qwen3-max", 50_000, 100,
         QWEN3_MAX_T1_EXPLICIT, "dashscope/qwen3-max@2026-12-07#tier1", cached_tokens=20_000,
         cache_write_tokens=10_000),
    Case("qwen3-max batch", "dashscope", "qwen3-max", 40_000, 100, QWEN3_MAX_T1,
         "dashscope/qwen3-max@2026-12-07#tier1", cached_tokens=20_000, batch=True),
    Case("qwen3-max dated snapshot", "dashscope", "qwen3-max-2025-09-23", 1000, 100, QWEN3_MAX_T0,
         "dashscope/qwen3-max@2026-12-07#tier0"),
    Case("qwen3-max before its entry's date", "dashscope", "qwen3-max", 1000, 100, None,
         at="2026-12-06T12:00:00"),
    Case("qwen3-vl-plus 32K-128K", "dashscope", "qwen3-vl-plus", 50_000, 2000,
         Prices(0.0015, 0.015, cached=0.0003, batch=0.5), "dashscope/qwen3-vl-plus@2026-12-07#tier1",
         cached_tokens=10_000),
    # coder: four tiers up to 1M, explicit cache on the stable name; MT
    Case("qwen3-coder-plus above 256K", "dashscope", "qwen3-coder-plus", 300_000, 4000,
         Prices(0.02, 0.2, cached=0.004), "dashscope/qwen3-coder-plus@2026-12-07#tier3",
         cached_tokens=200_000),
    Case("qwen3-coder-plus snapshot writing an explicit cache", "dashscope", "qwen3-coder-plus-2025-09-23",
         20_000, 1000, Prices(0.004, 0.016, cached=0.0004, write=0.005),
         "dashscope/qwen3-coder-plus@2026-12-07#tier0", cache_write_tokens=8000),
    Case("qwen3-coder-flash at the 256K edge", "dashscope", "qwen3-coder-flash", 262_144, 1000,
         Prices(0.0025, 0.01), "dashscope/qwen3-coder-flash@2026-12-07#tier2"),
    Case("qwen3-coder-flash one token over 256K", "dashscope", "qwen3-coder-flash", 262_145, 1000,
         Prices(0.005, 0.025), "dashscope/qwen3-coder-flash@2026-12-07#tier3"),
    Case("qwen-coder-turbo-latest", "dashscope", "qwen-coder-turbo-latest", 3000, 800, Prices(0.002, 0.006),
         "dashscope/qwen-coder-turbo@2026-12-07"),
    Case("qwen-mt-plus", "dashscope", "qwen-mt-plus", 1500, 1800, Prices(0.0018, 0.0054),
         "dashscope/qwen-mt-plus@2026-12-07", sdk=True),
    # embeddings and rerank: input only
    Case("text-embedding-v4", "dashscope", "text-embedding-v4", 40_000, 0, Prices(0.0005, 0.0, batch=0.5),
         "dashscope/text-embedding-v4@2026-12-07", sdk=True),
    Case("text-embedding-v3 batch", "dashscope", "text-embedding-v3", 40_000, 0,
         Prices(0.0005, 0.0, batch=0.5), "dashscope/text-embedding-v3@2026-12-07", batch=True),
    Case("text-embedding-v1", "dashscope", "text-embedding-v1", 40_000, 0, Prices(0.0007, 0.0),
         "dashscope/text-embedding-v1@2026-12-07"),
    Case("gte-rerank-v2", "dashscope", "gte-rerank-v2", 30_000, 0, Prices(0.0008, 0.0),
         "dashscope/gte-rerank-v2@2025-04-02"),
    Case("qwen3-rerank", "dashscope", "qwen3-rerank", 30_000, 0, Prices(0.0005, 0.0),
         "dashscope/qwen3-rerank@2026-12-07"),
    # the international endpoint: its own USD list, never the mainland CNY one
    Case("intl qwen-max with cache", "dashscope-intl", "qwen-max", 200_000, 10_000, INTL_QWEN_MAX,
         "dashscope-intl/qwen-max@2025-04-22", cached_tokens=50_000, sdk=True),
    Case("intl qwen-max batch", "dashscope-intl", "qwen-max", 200_000, 10_000, INTL_QWEN_MAX,
         "dashscope-intl/qwen-max@2025-04-22", batch=True),
    Case("intl text-embedding-v4", "dashscope-intl", "text-embedding-v4", 40_000, 0,
         Prices(0.07, 0.0, unit=1_000_000, currency="USD"), "dashscope-intl/text-embedding-v4@2025-12-15"),
    Case("intl qwen-plus is not priced from the mainland list", "dashscope-intl", "qwen-plus", 1000, 100,
         None),
    # a Qwen model reached under a provider without a data file: the mainland list
    Case("qwen-plus through an unknown gateway", "llm.corp.example", "qwen-plus", 2000, 100, QWEN_PLUS_T0,
         "dashscope/qwen-plus@2025-09-01#tier0"),
]  # fmt: skip
