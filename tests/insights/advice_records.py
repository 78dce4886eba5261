"""A fixed set of DashScope records for the advice tests, and the catalogue prices they bill at, typed in
by hand from ``pricing/data/dashscope.toml`` (entries of 2025-09-01; CNY per 1K tokens)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ai_usage_monitor.records import UsageRecord

__all__ = ["END", "PRICES", "SCALE", "START", "Price", "advice_records", "hand_cost"]

#: the advice window: ten days of November 2026 (after the 2025-09-01 prices, before 2026-12-07 ones)
START = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
END = datetime(2026, 11, 11, tzinfo=UTC).timestamp()
SCALE = 30 / 10


@dataclass(frozen=True)
class Price:
    """One tier: up to ``limit`` input tokens; ``thinking`` is the thinking-mode output price."""

    limit: int | None
    input: float
    cached: float
    output: float
    thinking: float | None = None


PRICES: dict[str, tuple[Price, ...]] = {
    "qwen-plus": (
        Price(131072, 0.0008, 0.00016, 0.002, 0.008),
        Price(262144, 0.0024, 0.00048, 0.02, 0.024),
        Price(None, 0.0048, 0.00096, 0.048, 0.064),
    ),
    "qwen-turbo": (Price(None, 0.0003, 0.00006, 0.0006, 0.003),),
    "qwen-flash": (
        Price(131072, 0.00015, 0.00003, 0.0015),
        Price(262144, 0.0006, 0.00012, 0.006),
        Price(None, 0.0012, 0.00024, 0.012),
    ),
    "qwen-max": (Price(None, 0.0024, 0.00048, 0.0096),),
    "qwen-long": (Price(None, 0.0005, 0.0001, 0.002),),
}


def hand_cost(
    model: str, inp: int, out: int, cached: int = 0, reasoning: int = 0, *, tier: int | None = None
) -> float:
    """A call's cost in CNY: the whole request at the tier its input falls in (or ``tier``)."""
    tiers = PRICES[model]
    if tier is None:
        tier = next(i for i, t in enumerate(tiers) if t.limit is None or inp <= t.limit)
    price = tiers[tier]
    output = price.thinking if reasoning and price.thinking is not None else price.output
    return ((inp - cached) * price.input + cached * price.cached + out * output) / 1000


_ids = itertools.count()


def _record(hours: float, model: str, function: str, **fields: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "provider": "dashscope",
        "model": model,
        "function": function,
        "priced": True,
        "source": "dashscope",
        "record_id": f"advice-{next(_ids)}",
    }
    values.update(fields)
    return UsageRecord(timestamp=START + hours * 3600, **values)


def advice_records() -> list[UsageRecord]:
    """实时分析 on qwen-max (two long calls, a failure with usage, one without); 长文总结 on qwen-plus (one
    call past the 128K tier with thinking, one short); 闲聊 on qwen-turbo (calls without usage, one failed);
    and one call outside the window."""
    big = {"input_tokens": 10_000, "cached_tokens": 1_000, "output_tokens": 2_000}
    return [
        _record(
            1,
            "qwen-max",
            "实时分析",
            **big,
            duration_ms=1000.0,
            cost=hand_cost("qwen-max", 10_000, 2_000, 1_000),
        ),
        _record(30, "qwen-max", "实时分析", **big, duration_ms=1200.0, cost=0.04128),
        _record(
            31,
            "qwen-max",
            "实时分析",
            input_tokens=1000,
            output_tokens=0,
            success=False,
            cost=0.0024,
            duration_ms=800.0,
            error_type="Timeout",
        ),
        _record(
            32, "qwen-max", "实时分析", success=False, priced=False, usage_missing=True, duration_ms=100.0
        ),
        _record(
            50,
            "qwen-plus",
            "长文总结",
            input_tokens=200_000,
            output_tokens=1_000,
            reasoning_tokens=400,
            duration_ms=9000.0,
            cost=0.504,
        ),
        _record(
            51, "qwen-plus", "长文总结", input_tokens=5_000, output_tokens=500, duration_ms=900.0, cost=0.005
        ),
        _record(60, "qwen-turbo", "闲聊", priced=False, usage_missing=True, stream=True, duration_ms=300.0),
        _record(
            61, "qwen-turbo", "闲聊", success=False, priced=False, duration_ms=500.0, error_type="Throttling"
        ),
        # outside the window (its end is exclusive)
        _record(240, "qwen-max", "实时分析", **big, success=False, cost=0.04128),
    ]
