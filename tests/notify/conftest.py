"""Outboxes over a temporary records folder with fast retries, stopped at the end of each test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.notify import Outbox, RetryPolicy, delivery_log_path
from ai_usage_monitor.notify.channel_config import validate_channels

#: Fast retries for tests: 0.1 s, 0.2 s, 0.4 s ... at most 6 attempts of at most 1 s.
FAST = RetryPolicy(timeout=1.0, max_attempts=6, first_delay=0.1, max_delay=1.0)

MakeOutbox = Callable[..., Outbox]


@pytest.fixture
def make_outbox(tmp_path: Path) -> Iterator[MakeOutbox]:
    """``make_outbox({"ops": {...}})``: an outbox on ``tmp_path``'s delivery log."""
    made: list[Outbox] = []

    def make(channels: dict[str, Any], policy: RetryPolicy = FAST, records_dir: Path | None = None) -> Outbox:
        path = delivery_log_path(records_dir or tmp_path)
        outbox = Outbox(path, validate_channels(channels), policy, exit_wait=2.0, poll_seconds=0.05)
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        outbox.stop(wait=0)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
