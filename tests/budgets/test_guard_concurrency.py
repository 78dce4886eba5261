"""4 processes × 4 threads calling the fake through the real OpenAI SDK against one ``block`` budget: the
fake's request count and the recorded spend never pass the limit, and refusals come only within one
worst case of it; on one host (the records folder's ledger) and on two hosts sharing a real Redis."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.budgets.conftest import REPO_ROOT
from tests.support.records import read_records

LIMIT = 0.08
THREADS = 4


@pytest.fixture
def fake(fake_provider: Any) -> Any:
    fake_provider.clear()
    return fake_provider


def run_workers(specs: list[dict[str, Any]], timeout: float = 120.0) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.budgets.guard_worker", json.dumps(spec)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, out
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def check(fake: Any, results: list[dict[str, Any]], folders: set[Path]) -> None:
    records = [r for folder in folders for r in read_records(folder)]
    done = [r for r in records if r["success"]]
    refused = [r for r in records if r["error_type"] == "BudgetExceeded"]
    calls = sum(r["calls"] for r in results)
    # every call that went out reached the fake and was recorded; no refused call reached it
    assert len(fake.requests) == calls == len(done) > 0
    assert len(refused) == len(results) * THREADS  # every thread ends on a refusal
    spent = math.fsum(r["cost"] for r in done)
    assert spent <= LIMIT + 1e-12
    refusals = [refusal for r in results for refusal in r["refusals"]]
    worst = refusals[0][2]
    assert all(math.isclose(needed, worst) for _, _, needed in refusals)
    # a refusal only when spent + held + this call's worst case would pass the limit
    for refused_spent, held, needed in refusals:
        assert refused_spent + held + needed > LIMIT
    # the last refusal came with nothing held: the budget was used up to within one worst case
    assert LIMIT - spent < worst
    assert 5 * worst < LIMIT  # the run had room for many calls: the check above means something


def test_four_processes_on_one_host(fake: Any, tmp_path: Path) -> None:
    spec = {
        "records_dir": str(tmp_path),
        "base_url": fake.compatible_base_url,
        "budget": "日预算",
        "limit": LIMIT,
        "threads": THREADS,
    }
    results = run_workers([spec] * 4)
    check(fake, results, {tmp_path})


def test_two_hosts_share_a_redis_budget(fake: Any, tmp_path: Path, redis_url: str) -> None:
    specs = [
        {
            "records_dir": str(tmp_path / host),
            "base_url": fake.compatible_base_url,
            "budget": f"shared-{time.time_ns()}",
            "limit": LIMIT,
            "threads": THREADS,
            "redis": redis_url,
        }
        for host in ("host-a", "host-a", "host-b", "host-b")
    ]
    budget = specs[0]["budget"]
    for spec in specs:
        spec["budget"] = budget
    results = run_workers(specs)
    check(fake, results, {tmp_path / "host-a", tmp_path / "host-b"})
