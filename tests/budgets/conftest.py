"""Fixtures of the budget tests: a real ``redis-server``, and worker processes hammering a ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.testing.redis_server import RedisServer

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``redis-server`` on a free 127.0.0.1 port for the session, stopped at the end."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


def worker(spec: dict[str, Any]) -> subprocess.Popen[str]:
    """Start ``tests.budgets.ledger_worker`` with ``spec`` (its output on a pipe)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.budgets.ledger_worker", json.dumps(spec)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def hammer(specs: list[dict[str, Any]], timeout: float = 60.0) -> list[dict[str, Any]]:
    """Run one hammering worker per spec at once; what each reported."""
    processes = [worker({"mode": "hammer", "seed": i, **spec}) for i, spec in enumerate(specs)]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, out
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results
