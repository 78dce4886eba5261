"""China's other providers (``deepseek``, ``zhipu``, ``minimax``, ``moonshot``, ``hunyuan``, ``qianfan`` and
``siliconflow`` data files): each row's cost through ``Pricer.quote`` equals a hand computation from the
data file's figures, at the edges of DeepSeek's peak windows and of each entry's effective date."""

from __future__ import annotations

from datetime import datetime

import pytest

from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import Pricer

M = 1_000_000


def _at(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


#: provider, model, call time (UTC), input (incl. cached), cached, output (incl. reasoning), reasoning,
#: cost in CNY worked out by hand from the official price page (CNY per 1M tokens), price_ref
Row = tuple[str, str, str, int, int, int, int, float, str]
ROWS: list[Row] = [
    # DeepSeek V4 Pro: off-peak 4.5 / 0.15 cached / 13.5; peak (01-04, 06-10 UTC) 9 / 0.30 / 27
    ("deepseek", "deepseek-v4-pro", "2026-12-01T00:59:59+00:00", 2 * M, M, M, 0,
     M * 4.5 / M + M * 0.15 / M + M * 13.5 / M, "deepseek/deepseek-v4-pro@2026-08-16T16:00:00+00:00"),
    ("deepseek", "deepseek-v4-pro", "2026-12-01T01:00:00+00:00", 2 * M, M, M, 0,
     9.0 + 0.30 + 27.0, "deepseek/deepseek-v4-pro@2026-08-16T16:00:00+00:00~01:00-04:00Z"),
    ("deepseek", "deepseek-v4-pro", "2026-12-01T03:59:59+00:00", 1000, 0, 1000, 0,
     (1000 * 9.0 + 1000 * 27.0) / M, "deepseek/deepseek-v4-pro@2026-08-16T16:00:00+00:00~01:00-04:00Z"),
    ("deepseek", "deepseek-v4-pro", "2026-12-01T04:00:00+00:00", 1000, 0, 1000, 0,
     (1000 * 4.5 + 1000 * 13.5) / M, "deepseek/deepseek-v4-pro@2026-08-16T16:00:00+00:00"),
    ("deepseek", "deepseek-v4-pro", "2026-12-01T06:00:00+00:00", 1000, 0, 1000, 0,
     (1000 * 9.0 + 1000 * 27.0) / M, "deepseek/deepseek-v4-pro@2026-08-16T16:00:00+00:00~06:00-10:00Z"),
    ("deepseek", "deepseek-v4-pro", "2026-12-01T10:00:00+00:00", 1000, 0, 1000, 0,
     (1000 * 4.5 + 1000 * 13.5) / M, "deepseek/deepseek-v4-pro@2026-08-16T16:00:00+00:00"),
    # thinking output bills at the output price (DeepSeek has no separate thinking price)
    ("deepseek", "deepseek-v4-pro", "2026-12-01T12:00:00+00:00", 1000, 0, 3000, 2000,
     (1000 * 4.5 + 3000 * 13.5) / M, "deepseek/deepseek-v4-pro@2026-08-16T16:00:00+00:00"),
    # Flash: off-peak 1 / 0.02 / 4, peak 2 / 0.04 / 8; the retired name bills as Flash
    ("deepseek", "deepseek-flash", "2026-12-06T23:00:00+00:00", 10_000, 4_000, 500, 0,
     (6_000 * 1.0 + 4_000 * 0.02 + 500 * 4.0) / M, "deepseek/deepseek-flash@2026-09-10"),
    ("deepseek", "deepseek-v4-flash", "2026-12-02T07:30:00+00:00", 10_000, 4_000, 500, 0,
     (6_000 * 2.0 + 4_000 * 0.04 + 500 * 8.0) / M, "deepseek/deepseek-v4-flash@2026-09-10~06:00-10:00Z"),
    # Zhipu GLM-5.3: 8 / 2 cached / 28
    ("zhipu", "glm-5.3", "2026-12-01T12:00:00+00:00", 5_000, 1_000, 800, 0,
     (4_000 * 8.0 + 1_000 * 2.0 + 800 * 28.0) / M, "zhipu/glm-5.3@2026-08-18"),
    # GLM-5.3-Flash at list price from 2026-09-10 00:00 Beijing time (16:00 UTC the day before)
    ("zhipu", "glm-5.3-flash", "2026-09-09T16:00:00+00:00", 5_000, 1_000, 800, 0,
     (4_000 * 0.8 + 1_000 * 0.23 + 800 * 2.8) / M, "zhipu/glm-5.3-flash@2026-09-09T16:00:00+00:00"),
    # MiniMax (mainland pay-as-you-go, undated): M2.7 2.1 / 0.42 cached / 8.4; M2.5's cache read is 0.21
    ("minimax", "MiniMax-M2.7", "2026-12-01T12:00:00+00:00", 10_000, 2_000, 1_000, 0,
     (8_000 * 2.1 + 2_000 * 0.42 + 1_000 * 8.4) / M, "minimax/minimax-m2.7@undated"),
    ("minimax", "MiniMax-M2.5", "2026-12-01T12:00:00+00:00", 10_000, 2_000, 1_000, 0,
     (8_000 * 2.1 + 2_000 * 0.21 + 1_000 * 8.4) / M, "minimax/minimax-m2.5@undated"),
    ("minimax", "MiniMax-M2.7-highspeed", "2026-12-01T12:00:00+00:00", 10_000, 2_000, 1_000, 0,
     (8_000 * 4.2 + 2_000 * 0.42 + 1_000 * 16.8) / M, "minimax/minimax-m2.7-highspeed@undated"),
    # Moonshot/Kimi (mainland CNY list, from 2026-07-07): K2.6 6.5 / 1.1 cached / 27, thinking at output
    ("moonshot", "kimi-k2.6", "2026-07-07T00:00:00+00:00", 10_000, 4_000, 2_000, 1_500,
     (6_000 * 6.5 + 4_000 * 1.1 + 2_000 * 27.0) / M, "moonshot/kimi-k2.6@2026-07-07"),
    # K2.7 Code: same input and output as K2.6, cache hit 1.3; HighSpeed: 13 / 2.6 / 54
    ("moonshot", "kimi-k2.7-code", "2026-12-01T12:00:00+00:00", 50_000, 40_000, 3_000, 0,
     (10_000 * 6.5 + 40_000 * 1.3 + 3_000 * 27.0) / M, "moonshot/kimi-k2.7-code@2026-07-07"),
    ("moonshot", "kimi-k2.7-code-highspeed", "2026-12-01T12:00:00+00:00", 50_000, 40_000, 3_000, 0,
     (10_000 * 13.0 + 40_000 * 2.6 + 3_000 * 54.0) / M, "moonshot/kimi-k2.7-code-highspeed@2026-07-07"),
    # moonshot-v1: no cache price (cached tokens bill as input); vision previews at their size's price
    ("moonshot", "moonshot-v1-8k", "2026-12-01T12:00:00+00:00", 6_000, 1_000, 1_500, 0,
     (6_000 * 2.0 + 1_500 * 10.0) / M, "moonshot/moonshot-v1-8k@2026-07-07"),
    ("moonshot", "moonshot-v1-32k-vision-preview", "2026-12-01T12:00:00+00:00", 20_000, 0, 1_500, 0,
     (20_000 * 5.0 + 1_500 * 20.0) / M, "moonshot/moonshot-v1-32k-vision-preview@2026-07-07"),
    ("moonshot", "moonshot-v1-128k", "2026-12-01T12:00:00+00:00", 100_000, 0, 4_000, 0,
     (100_000 * 10.0 + 4_000 * 30.0) / M, "moonshot/moonshot-v1-128k@2026-07-07"),
    # Tencent Hunyuan TurboS (from 2026-05-10): 0.8 / 2, no cache price, so cached tokens bill as input
    ("hunyuan", "hunyuan-turbos-latest", "2026-05-10T00:00:00+00:00", 30_000, 10_000, 2_000, 0,
     (30_000 * 0.8 + 2_000 * 2.0) / M, "hunyuan/hunyuan-turbos-latest@2026-05-10"),
    # Baidu Qianfan ERNIE 4.5 Turbo 128K (from 2026-05-10): 0.8 / 0.2 cached / 3.2
    ("qianfan", "ernie-4.5-turbo-128k", "2026-12-01T12:00:00+00:00", 100_000, 60_000, 5_000, 0,
     (40_000 * 0.8 + 60_000 * 0.2 + 5_000 * 3.2) / M, "qianfan/ernie-4.5-turbo-128k@2026-05-10"),
    # SiliconFlow, names as SiliconFlow spells them (matched case-insensitively): 2.5 / 10 and 8 / 16
    ("siliconflow", "Qwen/Qwen3-235B-A22B-Instruct-2507", "2026-12-01T12:00:00+00:00", 8_000, 0, 1_000, 0,
     (8_000 * 2.5 + 1_000 * 10.0) / M, "siliconflow/qwen/qwen3-235b-a22b-instruct-2507@2026-05-10"),
    # (no cache price: its 2,000 cached tokens bill at the input price)
    ("siliconflow", "Qwen/Qwen3-Coder-480B-A35B-Instruct", "2026-12-01T12:00:00+00:00",
     8_000, 2_000, 1_000, 0, (8_000 * 8.0 + 1_000 * 16.0) / M,
     "siliconflow/qwen/qwen3-coder-480b-a35b-instruct@2026-05-10"),
]  # fmt: skip


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer(Settings(currency="CNY", pricing_file=None))


@pytest.mark.parametrize("row", ROWS, ids=[f"{r[1]}@{r[2]}" for r in ROWS])
def test_cost_equals_the_hand_computation(pricer: Pricer, row: Row) -> None:
    provider, model, moment, input_tokens, cached, output_tokens, reasoning, expected, ref = row
    quote = pricer.quote(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
        at=_at(moment),
    )
    assert (quote.priced, quote.currency, quote.price_ref) == (True, "CNY", ref)
    assert quote.cost == pytest.approx(expected, rel=1e-12)


def test_before_an_entry_is_in_force_our_data_does_not_price(pricer: Pricer) -> None:
    """A call before our first dated entry is not billed at a price that was not yet in force."""
    for provider, model, moment in (
        ("deepseek", "deepseek-v4-pro", "2026-08-16T15:59:59+00:00"),
        ("zhipu", "glm-5.3-flash", "2026-09-09T15:59:59+00:00"),
        ("moonshot", "kimi-k2.6", "2026-07-06T23:59:59+00:00"),
        ("hunyuan", "hunyuan-turbos-latest", "2026-05-09T23:59:59+00:00"),
        ("qianfan", "ernie-4.5-turbo-128k", "2026-05-09T23:59:59+00:00"),
        ("siliconflow", "Qwen/Qwen3-Coder-480B-A35B-Instruct", "2026-05-09T23:59:59+00:00"),
    ):
        entry = pricer.price_entry(provider=provider, model=model, at=_at(moment))
        assert entry is None or not entry.refs[0].startswith(f"{provider}/"), entry


def test_minimax_cache_writes_bill_at_the_cache_write_price(pricer: Pricer) -> None:
    """MiniMax lists a cache-write price (2.625 per 1M): written tokens bill at it, not at the input price."""
    quote = pricer.quote(
        provider="minimax",
        model="MiniMax-M2.7",
        input_tokens=10_000,
        cached_tokens=2_000,
        cache_write_tokens=3_000,
        output_tokens=1_000,
    )
    assert quote.cost == pytest.approx(
        (5_000 * 2.1 + 2_000 * 0.42 + 3_000 * 2.625 + 1_000 * 8.4) / M, rel=1e-12
    )
