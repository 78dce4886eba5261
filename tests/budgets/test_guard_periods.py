"""The guard keeps each budget's seeded period window between calls: a call after the period's end is
counted in the next period (seeded from the records first), never in the one that ended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dashscope import Generation

from ai_usage_monitor.budgets import guard as guard_module
from ai_usage_monitor.budgets.config import period_window
from tests.budgets.guard_support import MESSAGES, guard, guarded
from tests.support.dashscope import dashscope_aimed_at
from tests.support.records import read_records


@pytest.fixture
def fake(fake_provider: Any) -> Iterator[Any]:
    fake_provider.clear()
    with dashscope_aimed_at(fake_provider):
        yield fake_provider


def test_a_call_after_the_period_ended_counts_in_the_next_one(
    fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = {"name": "hourly", "period": "hour", "limit": 100.0, "action": "block"}
    with guarded(tmp_path, [budget]) as settings:
        Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=50)
        first = read_records(tmp_path)[-1]
        later = first["timestamp"] + 3600.0  # the guard's clock moves on by an hour
        monkeypatch.setattr(guard_module, "time", SimpleNamespace(time=lambda: later))
        Generation.call("qwen-plus", messages=MESSAGES, result_format="message", max_tokens=50)
        second = read_records(tmp_path)[-1]
        rows = {s.period: (s.spent, s.reserved) for s in guard().ledger.status()}
    this_hour = period_window(first["timestamp"], "hour", settings.tz).label
    next_hour = period_window(later, "hour", settings.tz).label
    assert first["cost"] > 0 and second["cost"] > 0
    assert rows == {this_hour: (first["cost"], 0.0), next_hour: (second["cost"], 0.0)}
