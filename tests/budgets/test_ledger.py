"""The ledger's operations on both backends: reserve/settle/add/status, leases, seeding from records."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.budgets import sliced_ledger
from ai_usage_monitor.budgets.config import Budget, period_window
from ai_usage_monitor.budgets.ledger import Ledger, Refusal, Reservation, SpendStatus, open_ledger
from ai_usage_monitor.budgets.local_ledger import LocalLedger
from ai_usage_monitor.budgets.redis_ledger import RedisLedger
from ai_usage_monitor.budgets.seed import seed_from_records
from ai_usage_monitor.budgets.sliced_ledger import SlicedLedger
from ai_usage_monitor.config import Settings
from ai_usage_monitor.exporter.jsonl import JsonlExporter
from ai_usage_monitor.records import UsageRecord
from tests.budgets.conftest import worker

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass
class Store:
    """One shared store of the test (a records folder's file, or a Redis database) and its ledgers."""

    spec: dict[str, Any]
    opened: list[Ledger] = field(default_factory=list)

    def open(self) -> Ledger:
        ledger: Ledger
        if "redis" in self.spec:
            ledger = RedisLedger(self.spec["redis"])
        else:
            ledger = LocalLedger(Path(self.spec["records_dir"]))
        self.opened.append(ledger)
        return ledger


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each test once on the local file and once on a fresh Redis database."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        RedisLedger(url).client.flushdb()
        shared = Store({"redis": url})
    else:
        shared = Store({"records_dir": str(tmp_path / "records")})
    yield shared
    for ledger in shared.opened:
        ledger.close()


def only(statuses: list[SpendStatus], budget: str) -> SpendStatus:
    rows = [s for s in statuses if s.budget == budget]
    assert len(rows) == 1, rows
    return rows[0]


def test_reserve_settle_add_and_status(store: Store) -> None:
    ledger = store.open()
    window = period_window(time.time(), "day", BERLIN)
    first = ledger.reserve("日预算", "主播-1", window, 3.0, 10.0)
    second = ledger.reserve("日预算", "主播-1", window, 6.0, 10.0)
    assert isinstance(first, Reservation) and isinstance(second, Reservation)
    refused = ledger.reserve("日预算", "主播-1", window, 1.5, 10.0)
    assert isinstance(refused, Refusal)
    assert (refused.spent, refused.reserved, refused.limit, refused.resets_at) == (0.0, 9.0, 10.0, window.end)
    assert isinstance(
        ledger.reserve("日预算", "主播-2", window, 1.5, 10.0), Reservation
    )  # another scope value
    ledger.settle(first, 1.25)
    row = next(s for s in ledger.status() if s.scope_value == "主播-1")
    assert (row.spent, row.reserved, row.period, row.resets_at) == (1.25, 6.0, window.label, window.end)
    ledger.add("日预算", "主播-1", window, 2.5)  # never refused, even past the limit
    ledger.add("日预算", "主播-1", window, 100.0)
    ledger.settle(second, 0.5)
    row = next(s for s in ledger.status() if s.scope_value == "主播-1")
    assert (row.spent, row.reserved) == (104.25, 0.0)
    assert isinstance(ledger.reserve("日预算", "主播-1", window, 0.01, 10.0), Refusal)


def test_a_killed_process_holds_budget_only_until_its_lease_ends(store: Store) -> None:
    spec = {
        **store.spec,
        "mode": "hold",
        "budget": "leased",
        "worst": 8.0,
        "limit": 10.0,
        "lease": 1.5,
    }
    holder = worker(spec)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
    finally:
        holder.kill()
        holder.wait(timeout=10)
    ledger = store.open()
    window = period_window(time.time(), "day", BERLIN)
    assert isinstance(
        ledger.reserve("leased", "", window, 5.0, 10.0), Refusal
    )  # still held by the dead process
    deadline = time.monotonic() + 10
    while isinstance(got := ledger.reserve("leased", "", window, 5.0, 10.0), Refusal):
        assert time.monotonic() < deadline, "the dead process's reservation was never released"
        time.sleep(0.1)
    assert only(ledger.status(), "leased").reserved == 5.0
    ledger.settle(got, 4.0)
    assert only(ledger.status(), "leased").spent == 4.0


def write_records(records_dir: Path, records: list[UsageRecord]) -> None:
    exporter = JsonlExporter(records_dir, BERLIN)
    for record in records:
        assert exporter.export(record)
    exporter.close()


def test_recorded_spend_is_seeded_exactly_once_across_a_restart(store: Store, tmp_path: Path) -> None:
    records_dir = tmp_path / "records"
    now = time.time()
    window = period_window(now, "day", BERLIN)
    write_records(
        records_dir,
        [
            UsageRecord(timestamp=window.start + 1, cost=1.5, anchor_id="主播-1"),
            UsageRecord(timestamp=now, cost=2.0, anchor_id="主播-1"),
            UsageRecord(timestamp=now, cost=4.0, anchor_id="主播-2"),
            UsageRecord(timestamp=now, cost=8.0),  # no anchor: not in a per-anchor budget
            UsageRecord(timestamp=window.start - 1, cost=16.0, anchor_id="主播-1"),  # yesterday
        ],
    )
    (records_dir / "usage_2001-01-01.jsonl").write_text("not json\n", encoding="utf-8")
    budget = Budget(name="per-anchor", limit=100, scope={"anchor_id": "*"})

    first = store.open()
    assert seed_from_records(first, budget, window, records_dir, BERLIN)
    assert not seed_from_records(first, budget, window, records_dir, BERLIN)
    first.add(budget.name, "主播-1", window, 0.25)  # a call after the seeding
    first.close()

    restarted = store.open()  # a new process on the same store: the period is not read again
    assert not seed_from_records(restarted, budget, window, records_dir, BERLIN)
    spent = {s.scope_value: s.spent for s in restarted.status() if s.budget == budget.name}
    assert spent == {"主播-1": 3.75, "主播-2": 4.0}


def test_only_one_of_many_processes_seeds_a_period(store: Store, tmp_path: Path) -> None:
    records_dir = tmp_path / "records"
    window = period_window(time.time(), "day", BERLIN)
    write_records(records_dir, [UsageRecord(timestamp=time.time(), cost=0.5)])
    budget = Budget(name="total", limit=100)
    ledgers = [store.open() for _ in range(4)]
    results: list[bool] = []

    def seed(ledger: Ledger) -> None:
        results.append(seed_from_records(ledger, budget, window, records_dir, BERLIN))

    threads = [threading.Thread(target=seed, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert only(ledgers[0].status(), "total").spent == 0.5


def test_open_ledger_follows_the_settings(tmp_path: Path, redis_url: str) -> None:
    local = open_ledger(Settings(records_dir=tmp_path))
    assert isinstance(local, LocalLedger) and local.path.parent == tmp_path / ".budgets"
    shared = open_ledger(Settings(records_dir=tmp_path, budget_store=redis_url, budget_slice=0.1))
    assert isinstance(shared, SlicedLedger) and isinstance(shared.inner, RedisLedger)
    shared.close()


def test_a_process_exiting_returns_its_slices(store: Store) -> None:
    spec = {**store.spec, "mode": "exit", "budget": "sliced", "slice": 0.1, "worst": 1.0, "limit": 100.0}
    for _ in range(2):  # two short-lived processes, each drawing on its own slice
        process = worker({**spec, "calls": 3, "actual": 0.25})
        assert process.wait(timeout=30) == 0
    row = only(store.open().status(), "sliced")
    assert (row.spent, row.reserved) == (1.5, 0.0)


def test_slices_serve_calls_and_are_settled_when_used_up(tmp_path: Path) -> None:
    ledger = SlicedLedger(LocalLedger(tmp_path), slice_fraction=0.1)
    shared = LocalLedger(tmp_path)
    window = period_window(time.time(), "day", BERLIN)
    calls = [ledger.reserve("b", "", window, 3.0, 100.0) for _ in range(3)]  # 9 of the first 10 slice
    assert all(isinstance(call, Reservation) for call in calls)
    assert (only(shared.status(), "b").reserved, only(shared.status(), "b").spent) == (10.0, 0.0)
    for call in calls:
        assert isinstance(call, Reservation)
        ledger.settle(call, 1.0)  # 3 spent, 7 free again in the slice
    fourth = ledger.reserve("b", "", window, 8.0, 100.0)  # more than is free: a new slice, the old settled
    assert isinstance(fourth, Reservation)
    assert (only(shared.status(), "b").reserved, only(shared.status(), "b").spent) == (10.0, 3.0)
    refused = ledger.reserve("b", "", window, 95.0, 100.0)  # 3 spent + 10 held: 87 left
    assert isinstance(refused, Refusal) and (refused.spent, refused.reserved) == (3.0, 10.0)
    ledger.settle(fourth, 2.0)
    ledger.close()
    assert (only(shared.status(), "b").reserved, only(shared.status(), "b").spent) == (0.0, 5.0)


def test_idle_slices_of_ended_periods_are_returned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sliced_ledger, "_SWEEP_INTERVAL_S", 0.0)
    ledger = SlicedLedger(LocalLedger(tmp_path), slice_fraction=0.1)
    shared = LocalLedger(tmp_path)
    yesterday = period_window(time.time() - 86_400, "day", BERLIN)
    late = ledger.reserve("b", "", yesterday, 1.0, 100.0)  # a call that started before midnight
    assert isinstance(late, Reservation)
    ledger.settle(late, 0.5)
    assert only(shared.status(), "b").reserved == 10.0
    today = period_window(time.time(), "day", BERLIN)
    assert isinstance(ledger.reserve("b", "", today, 1.0, 100.0), Reservation)
    rows = {s.period: (s.spent, s.reserved) for s in shared.status()}
    assert rows == {yesterday.label: (0.5, 0.0), today.label: (0.0, 10.0)}
