"""The budgets' status read from a real ledger: a Redis ledger shared by hosts (its counters, not this
host's records, once it has seen a period), the records for a budget it has not, and the state rule at
its edges (figures by hand)."""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.budgets.config import Budget, period_window
from ai_usage_monitor.budgets.current import RecordedSpend, current_status
from ai_usage_monitor.budgets.ledger import Reservation
from ai_usage_monitor.budgets.redis_ledger import RedisLedger
from ai_usage_monitor.budgets.status import state_of
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.support.records import write_records

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_redis_ledger_is_read_and_the_records_fill_what_it_has_not_seen(
    redis_url: str, tmp_path: Path
) -> None:
    now = time.time()
    settings = Settings(
        records_dir=tmp_path / "records",
        index_dir=tmp_path / "index",
        timezone="Asia/Shanghai",
        budget_store=redis_url,
        budgets=[
            {"name": "status-shared", "period": "day", "limit": 10.0},
            {"name": "status-local", "period": "day", "limit": 10.0, "scope": {"user_id": "*"}},
        ],
    )
    # this host's records: 1.5 + 0.25 by two users today
    write_records(
        settings.records_dir,
        [
            UsageRecord(timestamp=now - 2, model="qwen-plus", user_id="u1", cost=1.5),
            UsageRecord(timestamp=now - 1, model="qwen-plus", user_id="u2", cost=0.25),
        ],
        SHANGHAI,
    )
    ledger = RedisLedger(redis_url)
    try:
        window = period_window(now, "day", SHANGHAI)
        ledger.add("status-shared", "", window, 8.5)  # spent on the other host
        held = ledger.reserve("status-shared", "", window, 0.75, 10.0)
        assert isinstance(held, Reservation)
        status = current_status(settings, top_n=5)
        ledger.settle(held, 0.5)
    finally:
        ledger.close()
    shared, *local = status.rows
    assert (shared.name, shared.source, shared.spent, shared.reserved) == (
        "status-shared",
        "ledger",
        8.5,
        0.75,
    )
    assert shared.ratio == pytest.approx(0.85) and shared.state == "warning"
    assert [(r.scope_value, r.spent, r.source) for r in local] == [
        ("u1", 1.5, "records"),
        ("u2", 0.25, "records"),
    ]


@pytest.mark.parametrize(
    ("thresholds", "ratio", "state"),
    [
        ((0.5, 0.8, 1.0), 0.79, "ok"),
        ((0.5, 0.8, 1.0), 0.8, "warning"),  # the highest threshold below 1.0, not the lowest
        ((0.5, 0.8, 1.0), 1.0, "exceeded"),
        ((1.0,), 0.99, "ok"),  # no threshold below 1.0: never warning
        ((0.9, 1.2), 1.1, "exceeded"),  # a threshold above 1.0 notifies, the state is exceeded
    ],
)
def test_state_of(thresholds: tuple[float, ...], ratio: float, state: str) -> None:
    budget = Budget(name="b", limit=1.0, thresholds=thresholds)
    assert state_of(budget, ratio) == state


def test_the_records_are_read_incrementally_and_a_replaced_file_from_the_start(tmp_path: Path) -> None:
    budget = Budget(name="by-user", period="day", limit=5.0, scope={"user_id": "*"})
    now = time.time()
    window = period_window(now, "day", SHANGHAI)
    read = RecordedSpend(tmp_path, SHANGHAI)
    assert read(budget, window) == {}
    write_records(tmp_path, [UsageRecord(timestamp=now - 3, model="m", user_id="u1", cost=1.0)], SHANGHAI)
    assert read(budget, window) == {"u1": 1.0}
    (path,) = tmp_path.glob("usage_*.jsonl")
    line = UsageRecord(timestamp=now - 2, model="m", user_id="u2", cost=0.5).to_json_line()
    with path.open("ab") as out:  # a line half written: not counted until it is whole
        out.write(line[:20])
    assert read(budget, window) == {"u1": 1.0}
    with path.open("ab") as out:
        out.write(line[20:])
    assert read(budget, window) == {"u1": 1.0, "u2": 0.5}
    assert read(budget, window) == {"u1": 1.0, "u2": 0.5}  # nothing new: nothing counted twice
    # the file replaced by a shorter one (restored from a backup): read again from its start
    path.unlink()
    write_records(tmp_path, [UsageRecord(timestamp=now - 1, model="m", user_id="u3", cost=0.25)], SHANGHAI)
    assert read(budget, window) == {"u3": 0.25}
    # a budget with another scope over the same file keeps its own figures
    team = Budget(name="team", period="day", limit=5.0)
    assert read(team, window) == {"": 0.25}
