"""Processes × threads hammering one budget: the limit holds, and refusals come only near it."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.budgets.config import period_window
from ai_usage_monitor.budgets.ledger import Ledger
from ai_usage_monitor.budgets.local_ledger import LocalLedger
from ai_usage_monitor.budgets.redis_ledger import RedisLedger
from tests.budgets.conftest import hammer

WORST = 1.0
LIMIT = 80.0
THREADS = 4


def spent_of(ledger: Ledger, budget: str) -> float:
    window = period_window(time.time(), "day", ZoneInfo("Europe/Berlin"))
    rows = [s for s in ledger.status() if s.budget == budget and s.period == window.label]
    assert len(rows) == 1
    assert rows[0].reserved == 0  # every reservation was settled
    return rows[0].spent


def check_run(results: list[dict[str, Any]], spent: float, slack: float) -> None:
    """The shared spend is what the workers settled, never past the limit, and used up to within
    one worst case plus ``slack`` (the budget other processes may hold in slices)."""
    settled = sum(r["settled"] for r in results)
    assert math.isclose(spent, settled, abs_tol=1e-6)  # no update lost between processes
    assert spent <= LIMIT + 1e-9
    assert LIMIT - spent < WORST + slack
    refusals = [refusal for r in results for refusal in r["refusals"]]
    assert len(refusals) == len(results) * THREADS  # every thread ends on a refusal
    for refused_spent, refused_reserved in refusals:
        assert refused_spent + refused_reserved + WORST > LIMIT - 1e-9


@pytest.mark.parametrize("python_gates", [0, 2], ids=["compiled", "two-in-python"])
def test_four_processes_on_the_local_ledger(tmp_path: Path, python_gates: int) -> None:
    """Also with processes of both kinds on one file: those without the compiled gate fold in the settles
    the others published without the lock."""
    spec = {
        "records_dir": str(tmp_path),
        "budget": "日预算",
        "worst": WORST,
        "limit": LIMIT,
        "threads": THREADS,
    }
    results = hammer([{**spec, "python_gate": i < python_gates} for i in range(4)])
    check_run(results, spent_of(LocalLedger(tmp_path), "日预算"), slack=0.0)


def test_two_hosts_share_a_redis_ledger(tmp_path: Path, redis_url: str) -> None:
    budget = f"shared-{time.time_ns()}"
    specs = [
        {
            "records_dir": str(tmp_path / host),
            "redis": redis_url,
            "budget": budget,
            "worst": WORST,
            "limit": LIMIT,
            "threads": THREADS,
        }
        for host in ("host-a", "host-a", "host-b", "host-b")
    ]
    results = hammer(specs)
    check_run(results, spent_of(RedisLedger(redis_url), budget), slack=0.0)


@pytest.mark.parametrize("slice_fraction", [0.05])
def test_sliced_local_ledger_keeps_the_limit(tmp_path: Path, slice_fraction: float) -> None:
    spec = {
        "records_dir": str(tmp_path),
        "budget": "sliced",
        "worst": WORST,
        "limit": LIMIT,
        "threads": THREADS,
        "slice": slice_fraction,
    }
    results = hammer([spec] * 4)
    # a refused process may have been short by the unused slices of the 3 others (and its own last one)
    check_run(results, spent_of(LocalLedger(tmp_path), "sliced"), slack=4 * slice_fraction * LIMIT)
