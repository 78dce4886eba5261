"""The outbox: never blocks the caller, retries with backoff, delivers each key once per channel across
processes and restarts, and leaves what it could not send for the next process."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.notify import DeliveryLog, Message, RetryPolicy, delivery_log_path
from tests.notify.conftest import FAST, MakeOutbox, wait_until
from tests.support.processes import free_port
from tests.support.robots import robot_receiver

REPO = Path(__file__).resolve().parents[2]


def _message(key: str = "budget:daily-total:2026-12-07:0.8") -> Message:
    return Message(key=key, title="每日预算已用 80%", spent=40.0, limit=50.0)


def _statuses(log: DeliveryLog) -> list[str]:
    return [row.status for row in reversed(log.attempts(100))]


def test_delivers_once_per_key_and_logs_every_attempt(make_outbox: MakeOutbox) -> None:
    with robot_receiver("wecom") as robot:
        outbox = make_outbox({"ops": {"type": "wecom", "url": robot.url}})
        outbox.notify(_message(), ["ops"])
        outbox.notify(_message(), ["ops"])  # the same key again: not a second delivery
        assert outbox.flush(10)
        outbox.notify(_message(), ["ops"])
        assert outbox.flush(10)
    assert len(robot.accepted) == 1
    rows = outbox.log.attempts(10)
    assert [(r.status, r.attempt, r.channel) for r in rows] == [("delivered", 1, "ops"), ("queued", 0, "ops")]
    assert rows[0].key == _message().key and rows[0].error is None and rows[0].pid == os.getpid()


def test_an_unknown_channel_is_refused_and_nothing_is_queued(make_outbox: MakeOutbox) -> None:
    outbox = make_outbox({"ops": {"type": "log"}})
    with pytest.raises(KeyError, match="'pager'"):
        outbox.notify(_message(), ["ops", "pager"])
    outbox.start()
    assert outbox.flush(10)
    assert outbox.log.attempts(10) == []


def test_a_receiver_that_is_down_gets_retries_with_backoff_then_delivery(make_outbox: MakeOutbox) -> None:
    port = free_port()
    outbox = make_outbox({"ops": {"type": "slack", "url": f"http://127.0.0.1:{port}/services/T/B/X"}})
    outbox.notify(_message(), ["ops"])
    wait_until(lambda: _statuses(outbox.log).count("retry") >= 3)
    with robot_receiver("slack", port=port) as robot:
        wait_until(lambda: "delivered" in _statuses(outbox.log))
    assert len(robot.accepted) == 1
    attempts = [row for row in reversed(outbox.log.attempts(100)) if row.status != "queued"]
    assert [row.attempt for row in attempts] == list(range(1, len(attempts) + 1))
    assert all("ConnectionRefusedError" in (row.error or "") for row in attempts[:-1])
    for before, after in itertools.pairwise(attempts):  # never earlier than the backoff
        assert after.at - before.at >= FAST.delay(before.attempt) * 0.95


def test_wrong_secret_gives_up_after_bounded_attempts_with_the_robots_error(make_outbox: MakeOutbox) -> None:
    with robot_receiver("feishu", "right-secret") as robot:
        policy = RetryPolicy(timeout=1.0, max_attempts=2, first_delay=0.05)
        outbox = make_outbox({"lark": {"type": "feishu", "url": robot.url, "secret": "wrong"}}, policy)
        outbox.notify(_message(), ["lark"])
        wait_until(lambda: "failed" in _statuses(outbox.log))
    assert _statuses(outbox.log) == ["queued", "retry", "failed"]
    assert "19021" in (outbox.log.attempts(1)[0].error or "") and not robot.accepted
    assert outbox.log.status_of(_message().key, "lark") == "failed"


def test_notify_does_not_wait_for_a_receiver_that_never_answers(make_outbox: MakeOutbox) -> None:
    with robot_receiver("dingtalk", hang=True) as robot:
        outbox = make_outbox({"ops": {"type": "dingtalk", "url": robot.url}})
        outbox.notify(_message("warm-up"), ["ops"])
        wait_until(lambda: robot.requests == 1)  # the worker is now stuck in an attempt
        started = time.perf_counter()
        for i in range(100):
            outbox.notify(_message(f"k{i}"), ["ops"])
        elapsed = time.perf_counter() - started
    assert elapsed < 0.05, f"100 notify() calls took {elapsed * 1000:.1f} ms while the receiver hung"


def test_a_restarted_outbox_does_not_resend_and_sends_what_was_left(make_outbox: MakeOutbox) -> None:
    port = free_port()
    channels = {"ops": {"type": "wecom", "url": f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k"}}
    with robot_receiver("wecom", port=port) as robot:
        first = make_outbox(channels)
        first.notify(_message("sent"), ["ops"])
        assert first.flush(10)
    first.notify(_message("left"), ["ops"])  # the receiver is gone: stays pending
    wait_until(lambda: "retry" in _statuses(first.log))
    first.stop(wait=0)
    with robot_receiver("wecom", port=port) as robot_again:
        second = make_outbox(channels)
        second.notify(_message("sent"), ["ops"])
        second.start()
        wait_until(lambda: second.log.status_of("left", "ops") == "delivered")
        assert second.flush(10)
    assert [a["body"]["markdown"]["content"].count("每日预算") for a in robot.accepted] == [1]
    assert len(robot_again.accepted) == 1 and second.log.status_of("sent", "ops") == "delivered"


def _sender(
    records_dir: Path, channels: dict[str, Any], key: str, mode: str, **more: Any
) -> subprocess.Popen[str]:
    spec = {"records_dir": str(records_dir), "channels": channels, "key": key, "mode": mode, **more}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.notify.sender", json.dumps(spec)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_one_delivery_per_key_across_two_processes_and_a_third_after_them(tmp_path: Path) -> None:
    with robot_receiver("webhook") as robot:
        channels = {"hook": {"type": "webhook", "url": robot.url}}
        start_at = time.time() + 1.5
        racers = [
            _sender(tmp_path, channels, "budget:x:2026-12-07:1.0", "exit", start_at=start_at)
            for _ in range(2)
        ]
        assert [p.wait(30) for p in racers] == [0, 0]
        later = _sender(tmp_path, channels, "budget:x:2026-12-07:1.0", "exit")
        assert later.wait(30) == 0
    assert len(robot.accepted) == 1
    assert robot.accepted[0]["body"]["key"] == "budget:x:2026-12-07:1.0"


def test_a_short_lived_process_delivers_at_exit(tmp_path: Path) -> None:
    with robot_receiver("dingtalk", "SECabc") as robot:
        channels = {"ding": {"type": "dingtalk", "url": robot.url, "secret": "SECabc"}}
        assert _sender(tmp_path, channels, "exit-key", "exit").wait(30) == 0
    assert len(robot.accepted) == 1


def test_pending_messages_of_a_killed_process_are_delivered_by_the_next(
    make_outbox: MakeOutbox, tmp_path: Path
) -> None:
    port = free_port()
    channels = {"ops": {"type": "slack", "url": f"http://127.0.0.1:{port}/services/T/B/X"}}
    victim = _sender(tmp_path, channels, "orphan", "linger")
    assert victim.stdout is not None and victim.stdout.readline().strip() == "READY"
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    with robot_receiver("slack", port=port) as robot:
        successor = make_outbox(channels)
        successor.start()
        wait_until(lambda: successor.log.status_of("orphan", "ops") == "delivered")
    assert len(robot.accepted) == 1
    pids = {row.pid for row in DeliveryLog(delivery_log_path(tmp_path)).attempts(100)}
    assert pids == {victim.pid, os.getpid()}
