"""The host's ledger beyond the shared contract (test_ledger.py): late settles after a lease ran out, a
file grown past another process's mapping, a full reservation table, slots of dropped periods given to
new counters, a fork, and a counters file that went missing."""

from __future__ import annotations

import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor import internal
from ai_usage_monitor.budgets import counter_map
from ai_usage_monitor.budgets.config import Budget, period_window
from ai_usage_monitor.budgets.counter_map import LedgerFull
from ai_usage_monitor.budgets.ledger import Refusal, Reservation, SpendStatus
from ai_usage_monitor.budgets.local_ledger import COUNTERS_FILE, LEDGER_DIR, LocalLedger
from ai_usage_monitor.budgets.seed import seed_from_records
from ai_usage_monitor.internal import internal_error_counts
from ai_usage_monitor.records import UsageRecord
from tests.budgets.test_ledger import write_records

SHANGHAI = ZoneInfo("Asia/Shanghai")


def figures(ledger: LocalLedger, budget: str, scope: str = "") -> tuple[float, float]:
    rows = [s for s in ledger.status() if (s.budget, s.scope_value) == (budget, scope)]
    assert len(rows) == 1, rows
    return rows[0].spent, rows[0].reserved


def test_a_late_settle_counts_its_spend_and_never_releases_another_reservation(tmp_path: Path) -> None:
    ledger = LocalLedger(tmp_path, lease_seconds=0.3)
    window = period_window(time.time(), "day", SHANGHAI)
    late = ledger.reserve("b", "", window, 8.0, 10.0)
    assert isinstance(late, Reservation)
    time.sleep(0.4)  # its lease ends: the next reserve sweeps it and may take its table entry
    taker = ledger.reserve("b", "", window, 8.0, 10.0)
    assert isinstance(taker, Reservation)
    assert figures(ledger, "b") == (0.0, 8.0)
    ledger.lease_seconds = 900.0
    assert ledger.settle(late, 1.0) == 1.0  # the call that outlived its lease: its cost counts
    assert figures(ledger, "b") == (1.0, 8.0)  # and the other call's reservation still holds
    refused = ledger.reserve("b", "", window, 2.0, 10.0)
    assert isinstance(refused, Refusal) and (refused.spent, refused.reserved) == (1.0, 8.0)
    assert ledger.settle(taker, 3.0) == 4.0
    assert figures(ledger, "b") == (4.0, 0.0)
    ledger.close()


def test_counters_past_another_process_mapping_are_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ledgers of one folder have their own descriptors and mappings, as two processes do."""
    monkeypatch.setattr(counter_map, "_INITIAL_COUNTERS", 4)
    window = period_window(time.time(), "day", SHANGHAI)
    first, second = LocalLedger(tmp_path), LocalLedger(tmp_path)
    first.add("b", "用户-0", window, 1.0)
    second.add("b", "用户-0", window, 1.0)  # mapped while the file holds 4 counters
    for i in range(1, 20):  # the file grows under the second's mapping
        first.add("b", f"用户-{i}", window, float(i))
    for i in range(20):
        held = second.reserve("b", f"用户-{i}", window, 0.5, 100.0)
        assert isinstance(held, Reservation)
        assert second.settle(held, 0.25) == (i or 2.0) + 0.25
    spent = {s.scope_value: s.spent for s in first.status()}
    assert spent == {f"用户-{i}": (i or 2.0) + 0.25 for i in range(20)}
    assert (tmp_path / LEDGER_DIR / COUNTERS_FILE).stat().st_size > 20 * 32
    first.close()
    second.close()


def test_a_full_reservation_table_refuses_rather_than_pass_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = LocalLedger(tmp_path, lease_seconds=0.3, reservation_slots=3)
    window = period_window(time.time(), "day", SHANGHAI)
    held = [ledger.reserve("b", "", window, 1.0, 100.0) for _ in range(3)]
    assert all(isinstance(r, Reservation) for r in held)
    monkeypatch.setattr(internal, "_raise", True)  # as the project's tests run: the error itself
    with pytest.raises(LedgerFull, match="all 3 reservation slots"):
        ledger.reserve("b", "", window, 1.0, 100.0)
    monkeypatch.setattr(internal, "_raise", False)  # as an app runs: refused, and logged
    before = internal_error_counts().get("budget ledger", 0)
    refused = ledger.reserve("b", "", window, 1.0, 100.0)
    assert isinstance(refused, Refusal) and (refused.spent, refused.reserved) == (0.0, 3.0)
    assert internal_error_counts()["budget ledger"] == before + 1
    time.sleep(0.4)  # the leases end: the sweep frees the table
    assert isinstance(ledger.reserve("b", "", window, 1.0, 100.0), Reservation)
    ledger.close()


def test_the_slot_of_a_dropped_period_serves_a_new_counter_untouched_by_old_writers(tmp_path: Path) -> None:
    old = period_window(time.time() - 60 * 86_400, "day", SHANGHAI)  # ended long ago: dropped at a seeding
    today = period_window(time.time(), "day", SHANGHAI)
    writer = LocalLedger(tmp_path)
    writer.add("b", "", old, 5.0)  # the writer now knows the old counter's slot
    seeder = LocalLedger(tmp_path)
    assert seed_from_records(seeder, Budget(name="b", limit=10), today, tmp_path, SHANGHAI)
    seeder.add("b", "", today, 1.0)  # takes the freed slot
    writer.add("b", "", old, 2.0)  # a late add to the dropped counter: looked up again, not the new one's
    rows = {s.period: s.spent for s in seeder.status()}
    assert rows == {today.label: 1.0, old.label: 2.0}
    writer.close()
    seeder.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_forked_child_and_its_parent_exclude_each_other(tmp_path: Path) -> None:
    """Parent and child exclude each other through the file's lock (the child opens the file anew)."""
    ledger = LocalLedger(tmp_path)
    window = period_window(time.time(), "day", SHANGHAI)
    ledger.add("b", "", window, 1.0)  # the file is open and mapped before the fork
    adds = 20_000
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for _ in range(adds):
                ledger.add("b", "", window, 1.0)
            ledger.add("from the child", "", window, 1.0)  # a new counter: the directory works in the child
            code = 0
        finally:
            os._exit(code)
    for _ in range(adds):
        ledger.add("b", "", window, 1.0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert figures(ledger, "b") == (1.0 + 2 * adds, 0.0)  # no add lost between the two processes
    assert figures(ledger, "from the child") == (1.0, 0.0)
    ledger.close()


def test_a_lost_counters_file_is_seeded_again_from_the_records(tmp_path: Path) -> None:
    now = time.time()
    window = period_window(now, "day", SHANGHAI)
    write_records(tmp_path, [UsageRecord(timestamp=now, cost=1.5), UsageRecord(timestamp=now, cost=0.25)])
    budget = Budget(name="total", limit=10)
    ledger = LocalLedger(tmp_path)
    assert seed_from_records(ledger, budget, window, tmp_path, SHANGHAI)
    ledger.close()
    (tmp_path / LEDGER_DIR / COUNTERS_FILE).unlink()
    restarted = LocalLedger(tmp_path)
    # the directory's slots and seeded markers meant the lost file: the period is read again, once
    assert seed_from_records(restarted, budget, window, tmp_path, SHANGHAI)
    assert [(s.budget, s.spent, s.reserved) for s in restarted.status()] == [("total", 1.75, 0.0)]
    restarted.close()


def test_status_lists_live_reservations_only(tmp_path: Path) -> None:
    ledger = LocalLedger(tmp_path, lease_seconds=0.3)
    window = period_window(time.time(), "day", SHANGHAI)
    assert isinstance(ledger.reserve("b", "x", window, 2.0, 10.0), Reservation)
    (row,) = ledger.status()
    assert row == SpendStatus("b", "x", window.label, window.end, 0.0, 2.0)
    time.sleep(0.4)
    (row,) = ledger.status()
    assert (row.spent, row.reserved) == (0.0, 0.0)
    ledger.close()


def test_expired_reservations_are_swept_only_when_one_can_have_expired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header's earliest lease end keeps the hot path from scanning the table on every call."""
    counters = counter_map.CounterMap(tmp_path / COUNTERS_FILE)
    sweeps: list[float] = []
    sweep = counter_map.CounterMap._sweep

    def counted(self: counter_map.CounterMap, now: float) -> None:
        sweeps.append(now)
        sweep(self, now)

    monkeypatch.setattr(counter_map.CounterMap, "_sweep", counted)
    counters.assign(0, 7)
    now = time.time()
    short = counters.reserve((0, 7), 1.0, 100.0, now, now + 0.2)
    assert isinstance(short, int)
    for _ in range(50):  # nothing can have expired yet: no sweep
        token = counters.reserve((0, 7), 1.0, 100.0, time.time(), time.time() + 900)
        assert isinstance(token, int)
        counters.settle(token, (0, 7), 0.5)
    assert sweeps == []
    time.sleep(0.3)
    for _ in range(50):  # one sweep drops the expired one; the next lease end is 900 s away
        token = counters.reserve((0, 7), 1.0, 100.0, time.time(), time.time() + 900)
        assert isinstance(token, int)
        counters.settle(token, (0, 7), 0.5)
    assert len(sweeps) == 1
    assert counters.read([(0, 7)], time.time()) == [(50.0, 0.0)]
    counters.close()
