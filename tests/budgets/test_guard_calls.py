"""The pre-call guard with the real OpenAI and DashScope SDKs on the local fake: a ``block`` budget stops
a call before any request leaves, ``downgrade`` switches the model, reservations settle to real costs."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anthropic
import openai
import pytest
from dashscope import Generation

from ai_usage_monitor import BudgetExceeded, record_ai_usage, track_ai_usage, usage_context
from ai_usage_monitor.budgets.local_ledger import LocalLedger
from tests.budgets.guard_support import FORMS, MESSAGES, call_form, guarded, spent, unguarded
from tests.instrumentation.anthropic_support import HAIKU
from tests.support.dashscope import close_shared_aio_session, dashscope_aimed_at
from tests.support.records import read_records

LIMIT = 0.01
#: what is left of the budget after the filler: far below the worst case of any call of the tests
LEFT = 0.00001


@pytest.fixture
def fake(fake_provider: Any) -> Iterator[Any]:
    """The session's fake, requests cleared, with the DashScope SDK aimed at it."""
    fake_provider.clear()
    with dashscope_aimed_at(fake_provider):
        yield fake_provider


def next_midnight_shanghai() -> float:
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    return (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).timestamp()


def fill(amount: float, **who: Any) -> None:
    """Spend ``amount`` by hand (``record_ai_usage``), as earlier calls of the day would have."""
    record_ai_usage("qwen-plus", provider="dashscope", cost=amount, **who)


@pytest.mark.parametrize(("sdk", "flavour", "stream"), FORMS)
async def test_a_block_budget_stops_the_call_before_any_request(
    fake: Any, tmp_path: Path, sdk: str, flavour: str, stream: bool
) -> None:
    records_dir = tmp_path / "records"
    budget = {"name": "日预算", "limit": LIMIT, "action": "block"}
    try:
        with guarded(records_dir, [budget]):
            await call_form(fake, sdk, flavour, stream)  # affordable: it goes out and settles
            (first,) = read_records(records_dir)
            assert first["success"] and first["cost"] > 0
            assert spent("日预算") == (pytest.approx(first["cost"]), 0)
            fill(LIMIT - first["cost"] - LEFT)
            sent = len(fake.requests)
            with pytest.raises(BudgetExceeded) as raised:
                await call_form(fake, sdk, flavour, stream)
            assert len(fake.requests) == sent  # nothing left the process
            assert spent("日预算") == (pytest.approx(LIMIT - LEFT), 0)  # nothing stays held
    finally:
        await close_shared_aio_session()
    exc = raised.value
    assert (exc.budget, exc.scope_value, exc.limit) == ("日预算", "", LIMIT)
    assert exc.spent == pytest.approx(LIMIT - LEFT)
    assert exc.needed > LEFT
    assert exc.resets_at == next_midnight_shanghai()
    assert "日预算" in str(exc) and "2026" not in exc.budget
    refused = read_records(records_dir)[-1]
    assert (refused["success"], refused["error_type"], refused["cost"]) == (False, "BudgetExceeded", 0.0)
    assert refused["model"] == "qwen-plus"
    assert refused["error_msg"] == str(exc)


@pytest.mark.parametrize("sdk", ["openai", "dashscope"])
async def test_a_downgrade_budget_sends_the_cheaper_model(fake: Any, tmp_path: Path, sdk: str) -> None:
    records_dir = tmp_path / "records"
    budget = {"name": "降级", "limit": LIMIT, "action": "downgrade", "downgrade_to": "qwen-flash"}
    with guarded(records_dir, [budget]):
        fill(LIMIT - LEFT)
        await call_form(fake, sdk, "sync", False, model="qwen-max")
        assert spent("降级")[1] == 0
    (request,) = fake.requests
    assert request.json["model"] == "qwen-flash"
    record = read_records(records_dir)[-1]
    assert (record["success"], record["model"]) == (True, "qwen-flash")
    assert record["tags"] == {"downgraded_from": "qwen-max", "downgraded_by": "降级"}


async def test_an_affordable_downgrade_budget_changes_nothing(fake: Any, tmp_path: Path) -> None:
    budget = {"name": "降级", "limit": 1.0, "action": "downgrade", "downgrade_to": "qwen-flash"}
    with guarded(tmp_path, [budget]):
        Generation.call("qwen-max", messages=MESSAGES, result_format="message", max_tokens=200)
    assert fake.requests[0].json["model"] == "qwen-max"
    assert read_records(tmp_path)[-1]["tags"] == {}


def test_a_stream_dropped_unread_settles_when_collected(fake: Any, tmp_path: Path) -> None:
    client = openai.OpenAI(api_key="test-key", base_url=fake.compatible_base_url, max_retries=0)
    with guarded(tmp_path, [{"name": "day", "limit": LIMIT, "action": "block"}]):
        stream = client.chat.completions.create(
            model="qwen-plus", messages=MESSAGES, max_tokens=200, stream=True
        )
        assert spent("day")[1] > 0  # held while the stream is open
        del stream
        gc.collect()
        (record,) = read_records(tmp_path)
        assert spent("day") == (record["cost"], 0)
    client.close()


def test_record_ai_usage_counts_but_never_raises(tmp_path: Path) -> None:
    with guarded(tmp_path, [{"name": "day", "limit": LIMIT, "action": "block"}]):
        fill(LIMIT * 2)
        fill(LIMIT)
        assert spent("day") == (pytest.approx(LIMIT * 3), 0)
    assert [r["success"] for r in read_records(tmp_path)] == [True, True]


def test_calls_inside_track_ai_usage_are_guarded(fake: Any, tmp_path: Path) -> None:
    @track_ai_usage("实时分析", "qwen-plus")
    def analyse() -> Any:
        return Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)

    budget = {"name": "分析", "limit": LIMIT, "action": "block", "scope": {"function": "实时分析"}}
    with guarded(tmp_path, [budget]):
        analyse()
        fill(LIMIT, function="实时分析")
        with pytest.raises(BudgetExceeded):
            analyse()
        # another function: not in the budget's scope
        Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)
    assert len(fake.requests) == 2
    assert [(r["function"], r["success"]) for r in read_records(tmp_path)] == [
        ("实时分析", True),
        ("实时分析", True),
        ("实时分析", False),
        (None, True),
    ]


def test_a_quota_per_user_refuses_only_that_user(fake: Any, tmp_path: Path) -> None:
    budget = {"name": "用户额度", "limit": LIMIT, "action": "block", "scope": {"user_id": "*"}}
    with guarded(tmp_path, [budget]):
        fill(LIMIT, user_id="用户-1")
        with usage_context(user_id="用户-1"), pytest.raises(BudgetExceeded) as raised:
            Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)
        with usage_context(user_id="用户-2"):
            Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)
        assert spent("用户额度", "用户-1") == (LIMIT, 0)
        assert spent("用户额度", "用户-2")[0] == read_records(tmp_path)[-1]["cost"]
    assert raised.value.scope_value == "用户-1"
    assert len(fake.requests) == 1


def test_spend_recorded_before_the_start_counts(fake: Any, tmp_path: Path) -> None:
    with guarded(tmp_path, []):  # an earlier run of the app, without budgets
        fill(LIMIT - LEFT)
    unguarded()
    block = [{"name": "day", "limit": LIMIT, "action": "block"}]
    with guarded(tmp_path, block), pytest.raises(BudgetExceeded) as raised:
        Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)
    assert math.isclose(raised.value.spent, LIMIT - LEFT)
    assert fake.requests == []


def test_a_notify_budget_never_stops_a_call(fake: Any, tmp_path: Path) -> None:
    with guarded(tmp_path, [{"name": "watch", "limit": LIMIT, "action": "notify"}]):
        fill(LIMIT * 2)
        Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)
        record = read_records(tmp_path)[-1]
        assert record["success"]
        assert spent("watch") == (pytest.approx(LIMIT * 2 + record["cost"]), 0)


def test_an_anthropic_call_is_stopped_the_same_way(fake: Any, tmp_path: Path) -> None:
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.anthropic_base_url, max_retries=0)
    params = {"model": HAIKU, "max_tokens": 256, "messages": [{"role": "user", "content": "你好"}]}
    with guarded(tmp_path, [{"name": "day", "limit": LIMIT, "action": "block"}]):
        client.messages.create(**params)
        fill(LIMIT - read_records(tmp_path)[-1]["cost"] - LEFT)
        with pytest.raises(BudgetExceeded):
            client.messages.create(**params)
    client.close()
    assert len(fake.requests) == 1
    assert read_records(tmp_path)[-1]["error_type"] == "BudgetExceeded"


def test_a_notify_budget_with_slices_counts_every_call(fake: Any, tmp_path: Path) -> None:
    budget = {"name": "watch", "limit": LIMIT, "action": "notify"}
    with guarded(tmp_path, [budget], budget_slice=0.5):
        for _ in range(3):
            Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)
        fill(LIMIT)  # past the limit: the next call cannot take a slice, it is added
        Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=200)
    records = read_records(tmp_path)
    (counter,) = LocalLedger(tmp_path).status()  # the slices were settled when the guard closed
    assert counter.spent == pytest.approx(math.fsum(r["cost"] for r in records))
    assert counter.reserved == 0
    assert len(fake.requests) == 4
