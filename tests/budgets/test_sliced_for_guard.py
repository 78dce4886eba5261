"""Slices across a fork (a child takes its own), and the spend a sliced settle reports."""

from __future__ import annotations

import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.budgets.config import period_window
from ai_usage_monitor.budgets.ledger import Reservation
from ai_usage_monitor.budgets.local_ledger import LocalLedger
from ai_usage_monitor.budgets.sliced_ledger import SlicedLedger


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_forked_child_takes_its_own_slice(tmp_path: Path) -> None:
    window = period_window(time.time(), "day", ZoneInfo("Asia/Shanghai"))
    parent = SlicedLedger(LocalLedger(tmp_path), slice_fraction=0.1)
    assert isinstance(parent.reserve("b", "", window, 1.0, 100.0), Reservation)  # a slice of 10 held
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call, then report what the shared ledger holds
        try:
            parent.reserve("b", "", window, 1.0, 100.0)
            held = sum(s.reserved for s in LocalLedger(tmp_path).status())
            os.write(write, repr(held).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        assert float(pipe.read()) == 20.0  # the parent's slice and the child's own
    parent.close()


def test_a_sliced_settle_tells_the_spend_this_process_knows(tmp_path: Path) -> None:
    """The threshold alerts need the spend after each call: with slices, the shared spend at the last
    settled slice plus what the open slice spent since."""
    window = period_window(time.time(), "day", ZoneInfo("Asia/Shanghai"))
    shared = LocalLedger(tmp_path)
    ledger = SlicedLedger(shared, slice_fraction=0.1)
    first = ledger.reserve("b", "", window, 1.0, 100.0)
    assert isinstance(first, Reservation)
    assert ledger.settle(first, 1.0) == 1.0
    second = ledger.reserve("b", "", window, 9.5, 100.0)  # the first slice (10) cannot hold it: a new one
    assert isinstance(second, Reservation)
    assert [s.spent for s in shared.status()] == [1.0]  # the first slice was settled
    assert ledger.settle(second, 9.0) == 10.0
    ledger.close()
    assert [s.spent for s in shared.status()] == [10.0]
