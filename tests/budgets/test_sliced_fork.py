"""A process forked while holding a slice does not draw on its parent's slice: it takes its own."""

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
