"""Every advice figure over a fixed record set equals a hand computation from the catalogue's prices."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.config import Settings
from ai_usage_monitor.insights import Advice, advise
from ai_usage_monitor.insights.advice_models import same_kind_models
from ai_usage_monitor.pricing import Pricer
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import TimeRange
from tests.insights.advice_records import END, SCALE, START, advice_records, hand_cost
from tests.support.records import write_records


def _advise(root: Path, records: list[UsageRecord], start: float, end: float) -> list[Advice]:
    settings = Settings(
        records_dir=root / "records",
        index_dir=root / "index",
        timezone="UTC",
        currency="CNY",
        pricing_file=None,
    )
    write_records(settings.records_dir, records, UTC)
    with UsageStore(settings) as store:
        store.refresh()
        return advise(store, Pricer(settings), TimeRange(start, end))


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[Advice]:
    return _advise(tmp_path_factory.mktemp("advice"), advice_records(), START, END)


def _one(items: list[Advice], kind: str, function: str) -> Advice:
    found = [item for item in items if item.kind == kind and item.function == function]
    assert len(found) == 1, (kind, function, items)
    return found[0]


# The two functions' calls as (input, output, cached, reasoning), as advice_records writes them.
LIVE = [(10_000, 2_000, 1_000, 0), (10_000, 2_000, 1_000, 0), (1_000, 0, 0, 0)]
LONG = [(200_000, 1_000, 0, 400), (5_000, 500, 0, 0)]


def _total(model: str, calls: list[tuple[int, int, int, int]]) -> float:
    return sum(hand_cost(model, *call) for call in calls)


def test_items_and_their_order(items: list[Advice]) -> None:
    assert [(i.kind, i.function, i.model) for i in items] == [
        ("cheaper_model", "长文总结", "qwen-plus"),
        ("context_tier", "长文总结", "qwen-plus"),
        ("cache", "长文总结", "qwen-plus"),
        ("cheaper_model", "实时分析", "qwen-max"),
        ("thinking", "长文总结", "qwen-plus"),
        ("cache", "实时分析", "qwen-max"),
        ("failures", "实时分析", "qwen-max"),
        ("failures", "闲聊", "qwen-turbo"),
    ]
    savings = [i.monthly_saving for i in items]
    assert savings == sorted(savings, reverse=True)
    for item in items:
        assert item.evidence["window_start"] == START
        assert item.evidence["window_end"] == END
        assert item.evidence["window_days"] == pytest.approx(10)
        assert item.evidence["models"] == [item.model]
        assert item.monthly_saving == pytest.approx(item.evidence["window_saving"] * SCALE)
        assert "30 days" in item.detail


def test_cheaper_model_reprices_each_call_per_tier(items: list[Advice]) -> None:
    item = _one(items, "cheaper_model", "长文总结")
    current = _total("qwen-plus", LONG)
    assert current == pytest.approx(0.509)  # 0.504 (tier 1, thinking) + 0.005
    assert item.evidence["repriced_cost"] == pytest.approx(current)
    by_model = {c["model"]: c for c in item.evidence["candidates"]}
    # qwen3-max's only price starts 2026-12-07: it cannot price November calls and is no candidate
    assert set(by_model) == {"qwen-turbo", "qwen-flash", "qwen-long", "qwen-max"}
    for model, candidate in by_model.items():
        assert candidate["window_cost"] == pytest.approx(_total(model, LONG)), model
        assert candidate["monthly_saving"] == pytest.approx((current - _total(model, LONG)) * SCALE)
    assert item.to_model == "qwen-turbo"
    assert item.monthly_saving == pytest.approx((0.509 - (0.063 + 0.0018)) * SCALE)
    # qwen-turbo served 闲聊: 2 calls, one failed, 300 and 500 ms
    assert item.evidence["candidate_traffic"] is True
    assert item.evidence["candidate_calls"] == 2
    assert item.evidence["candidate_success_rate"] == pytest.approx(50.0)
    assert item.evidence["candidate_avg_ms"] == pytest.approx(400.0)
    assert by_model["qwen-flash"]["candidate_traffic"] is False
    assert by_model["qwen-flash"]["candidate_success_rate"] is None
    assert by_model["qwen-max"]["candidate_traffic"] is True
    assert by_model["qwen-max"]["candidate_success_rate"] == pytest.approx(50.0)  # 2 of 4 实时分析 calls


def test_cheaper_model_for_a_flat_priced_model(items: list[Advice]) -> None:
    item = _one(items, "cheaper_model", "实时分析")
    current = _total("qwen-max", LIVE)
    assert current == pytest.approx(0.08496)
    turbo = _total("qwen-turbo", LIVE)
    assert turbo == pytest.approx(0.00822)
    assert item.to_model == "qwen-turbo"
    assert item.monthly_saving == pytest.approx((current - turbo) * SCALE)
    assert {c["model"] for c in item.evidence["candidates"]} == {
        "qwen-turbo",
        "qwen-flash",
        "qwen-long",
        "qwen-plus",
    }
    assert item.evidence["calls"] == 4
    assert item.evidence["usage_calls"] == 3
    assert item.evidence["input_tokens"] == 21_000
    assert item.evidence["cached_tokens"] == 2_000
    assert item.evidence["output_tokens"] == 4_000


def test_thinking(items: list[Advice]) -> None:
    item = _one(items, "thinking", "长文总结")
    on = hand_cost("qwen-plus", 200_000, 1_000, 0, 400)  # tier 1 thinking output: 0.024
    plain = (200_000 * 0.0024 + 1_000 * 0.02) / 1000
    off = (200_000 * 0.0024 + 600 * 0.02) / 1000
    assert on == pytest.approx(0.504)
    assert item.evidence["thinking_calls"] == 1
    assert item.evidence["thinking_reasoning_tokens"] == 400
    assert item.evidence["thinking_cost"] == pytest.approx(on)
    assert item.evidence["thinking_surcharge"] == pytest.approx(on - plain)
    assert item.evidence["cost_without_thinking"] == pytest.approx(off)
    assert item.monthly_saving == pytest.approx((on - off) * SCALE)
    assert item.to_model is None


def test_context_tier(items: list[Advice]) -> None:
    item = _one(items, "context_tier", "长文总结")
    at_tier = hand_cost("qwen-plus", 200_000, 1_000, 0, 400)
    at_tier0 = hand_cost("qwen-plus", 200_000, 1_000, 0, 400, tier=0)
    assert at_tier0 == pytest.approx((200_000 * 0.0008 + 1_000 * 0.008) / 1000)
    assert item.evidence["tier_calls"] == 1
    assert item.evidence["tier_input_tokens"] == 200_000
    assert item.evidence["tier_boundaries"] == [128 * 1024]
    assert item.monthly_saving == pytest.approx((at_tier - at_tier0) * SCALE)


def test_cache(items: list[Advice]) -> None:
    live = _one(items, "cache", "实时分析")
    # 30% of each call's input billed as cached (never less than it already was)
    target = [(i, o, max(c, int(i * 0.3)), r) for i, o, c, r in LIVE]
    assert live.evidence["cached_share"] == pytest.approx(2_000 / 21_000)
    assert live.evidence["mean_input_tokens"] == pytest.approx(7_000)
    assert live.evidence["cost_at_target"] == pytest.approx(_total("qwen-max", target))
    assert live.monthly_saving == pytest.approx(
        (_total("qwen-max", LIVE) - _total("qwen-max", target)) * SCALE
    )
    long = _one(items, "cache", "长文总结")
    target = [(i, o, int(i * 0.3), r) for i, o, _, r in LONG]
    assert long.monthly_saving == pytest.approx(
        (_total("qwen-plus", LONG) - _total("qwen-plus", target)) * SCALE
    )
    assert long.evidence["long_input_threshold"] == 2048
    assert long.evidence["low_share_threshold"] == 0.1


def test_failures(items: list[Advice]) -> None:
    live = _one(items, "failures", "实时分析")
    assert live.evidence["failed_calls"] == 1
    assert live.evidence["failed_without_usage"] == 1
    assert live.monthly_saving == pytest.approx(0.0024 * SCALE)
    chat = _one(items, "failures", "闲聊")
    assert chat.evidence["failed_calls"] == 0
    assert chat.evidence["failed_without_usage"] == 1
    assert chat.monthly_saving == 0


def test_items_are_plain_json(items: list[Advice]) -> None:
    import json

    data: list[dict[str, Any]] = [item.to_dict() for item in items]
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


def test_calls_bill_at_the_price_of_their_day(tmp_path: Path) -> None:
    """qwen-plus changed price on 2025-09-01 (UTC): a call the day before keeps the undated figures."""
    day = datetime(2025, 8, 31, tzinfo=UTC).timestamp()
    records = [
        UsageRecord(
            timestamp=day + h * 3600,
            provider="dashscope",
            model="qwen-plus",
            function="摘要",
            input_tokens=3_000,
            output_tokens=1_000,
            priced=True,
        )
        for h in (12, 36)
    ]
    items = _advise(tmp_path, records, day, day + 2 * 86400)
    # before: 0.0004 in / 0.00008 cached / 0.002 out; from 2025-09-01: 0.0008 / 0.00016 / 0.002 (tier 0)
    before, after = (3_000 * 0.0004 + 1_000 * 0.002) / 1000, (3_000 * 0.0008 + 1_000 * 0.002) / 1000
    cached_before = (2_100 * 0.0004 + 900 * 0.00008 + 1_000 * 0.002) / 1000
    cached_after = (2_100 * 0.0008 + 900 * 0.00016 + 1_000 * 0.002) / 1000
    # no cheaper model: only qwen-max (dearer) has a price in force on 2025-08-31
    assert [(i.kind, i.model) for i in items] == [("cache", "qwen-plus")]
    (cache,) = items
    assert cache.evidence["repriced_cost"] == pytest.approx(before + after)
    assert cache.monthly_saving == pytest.approx((before + after - cached_before - cached_after) * 15)


def test_candidates_are_of_the_same_kind() -> None:
    assert same_kind_models("dashscope", "text-embedding-v4") == (
        "text-embedding-v1",
        "text-embedding-v2",
        "text-embedding-v3",
    )
    assert same_kind_models("dashscope", "qwen-mt-plus") == ("qwen-mt-turbo",)
    assert same_kind_models("dashscope", "qwen3-coder-plus") == (
        "qwen-coder-plus",
        "qwen-coder-turbo",
        "qwen3-coder-flash",
    )
    chat = same_kind_models("aliyun", "qwen-plus-2025-07-28")
    assert chat == ("qwen-flash", "qwen-long", "qwen-max", "qwen-turbo", "qwen3-max")
