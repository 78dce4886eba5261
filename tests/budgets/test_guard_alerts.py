"""Threshold alerts: each threshold of a budget is delivered once per period to a local receiver, also
when the spend crosses it in a restarted process, and a receiver that never answers never slows a call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openai
import pytest

import ai_usage_monitor
from ai_usage_monitor import record_ai_usage
from ai_usage_monitor.notify.outbox import get_outbox, shutdown_outboxes
from tests.budgets.conftest import REPO_ROOT
from tests.budgets.guard_support import MESSAGES, unguarded
from tests.support.records import read_records
from tests.support.robots import robot_receiver

LIMIT = 0.01
#: a second run of the app: instruments itself with the same settings and records ``cost`` by hand
RESTARTED = """
import json, sys
import ai_usage_monitor
ai_usage_monitor.instrument(providers=[], **json.loads(sys.argv[1]))
ai_usage_monitor.record_ai_usage("qwen-plus", provider="dashscope", cost=float(sys.argv[2]))
"""


def settings_for(records_dir: Path, url: str) -> dict[str, Any]:
    return {
        "records_dir": str(records_dir),
        "timezone": "Asia/Shanghai",
        "raise_internal_errors": True,
        "channels": {"ops": {"type": "webhook", "url": url}},
        "notify_retry_delay": 0.1,
        "notify_timeout": 5.0,
        "dashboard_url": "http://monitor.example/",
        "budgets": [
            {
                "name": "日预算",
                "limit": LIMIT,
                "thresholds": [0.5, 1.0],
                "action": "notify",
                "channels": ["ops"],
            }
        ],
    }


def restarted_process(settings: dict[str, Any], cost: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", RESTARTED, json.dumps(settings), str(cost)],
        check=False,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@contextmanager
def instrumented_with(settings: dict[str, Any]) -> Iterator[Any]:
    try:
        yield ai_usage_monitor.instrument(**settings)
    finally:
        unguarded()


@pytest.fixture
def outboxes() -> Iterator[None]:
    yield
    shutdown_outboxes()


def test_each_threshold_is_delivered_once_per_period_across_restarts(tmp_path: Path, outboxes: None) -> None:
    with robot_receiver("webhook") as robot:
        settings = settings_for(tmp_path, robot.url)
        with instrumented_with(settings) as resolved:
            record_ai_usage("qwen-plus", provider="dashscope", cost=LIMIT * 0.6)
            record_ai_usage("qwen-plus", provider="dashscope", cost=LIMIT * 0.1)  # still above 50% only
            assert get_outbox(resolved).flush(10)
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        assert [a["body"]["key"] for a in robot.accepted] == [f"budget:日预算::{today}:0.5"]
        settings = settings_for(tmp_path, robot.url)
        restarted_process(settings, LIMIT * 0.4)  # crosses 100%; 50% is reached again, not re-sent
        restarted_process(settings, LIMIT * 0.1)  # both reached again: nothing new
    bodies = [a["body"] for a in robot.accepted]
    assert [b["key"].rsplit(":", 1)[1] for b in bodies] == ["0.5", "1"]
    first, second = bodies
    assert first["spent"] == pytest.approx(LIMIT * 0.6) and second["spent"] == pytest.approx(LIMIT * 1.1)
    assert (first["budget"], first["limit"], first["language"]) == ("日预算", LIMIT, "zh")
    assert "50%" in first["title"] and "100%" in second["title"]
    assert first["link"] == "http://monitor.example/"
    assert first["period"] == today
    assert (first["severity"], second["severity"]) == ("warning", "critical")


def test_a_receiver_that_never_answers_does_not_slow_the_call(
    fake_provider: Any, tmp_path: Path, outboxes: None
) -> None:
    client = openai.OpenAI(api_key="test-key", base_url=fake_provider.compatible_base_url, max_retries=0)
    with robot_receiver("webhook", hang=True) as robot:
        settings = settings_for(tmp_path, robot.url)
        with instrumented_with(settings) as resolved:
            client.chat.completions.create(model="qwen-plus", messages=MESSAGES, max_tokens=200)  # warm
            call_cost = read_records(tmp_path)[-1]["cost"]
            # just below 50%: the next call, costing as much as the first, crosses it
            record_ai_usage("qwen-plus", provider="dashscope", cost=LIMIT * 0.5 - call_cost * 1.5)
            started = time.perf_counter()
            # crosses 50%: its alert goes to a receiver that hangs for the whole attempt timeout (5 s)
            client.chat.completions.create(model="qwen-plus", messages=MESSAGES, max_tokens=200)
            took = time.perf_counter() - started
            deadline = time.monotonic() + 5
            while robot.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert robot.requests == 1  # the alert was being delivered while the call returned
            get_outbox(resolved).stop(wait=0)
    client.close()
    assert read_records(tmp_path)[-1]["success"]
    assert took < 1.0  # loosely: the timed figures are in benchmarks/guard_alerts.py


def test_a_block_budget_alerts_once_when_it_starts_refusing(
    fake_provider: Any, tmp_path: Path, outboxes: None
) -> None:
    """A refusal comes while the spend is still under the limit (by less than a worst case), so the 100%
    threshold may never be reached: the first refused call of the period is an alert of its own."""
    with robot_receiver("webhook") as robot:
        settings = settings_for(tmp_path, robot.url)
        settings["budgets"] = [{**settings["budgets"][0], "action": "block", "thresholds": [1.0]}]
        with instrumented_with(settings) as resolved:
            record_ai_usage("qwen-plus", provider="dashscope", cost=LIMIT * 0.99)
            client = openai.OpenAI(
                base_url=fake_provider.compatible_base_url, api_key="sk-test", max_retries=0
            )
            for _ in range(3):
                with pytest.raises(ai_usage_monitor.BudgetExceeded):
                    client.chat.completions.create(model="qwen-plus", messages=MESSAGES, max_tokens=4000)
            assert get_outbox(resolved).flush(10)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    (alert,) = [a["body"] for a in robot.accepted]
    assert alert["key"] == f"budget:日预算::{today}:refused"
    assert alert["spent"] == pytest.approx(LIMIT * 0.99) and alert["severity"] == "critical"
    assert "拒绝" in alert["title"]
    refused = [r for r in read_records(tmp_path) if r["error_type"] == "BudgetExceeded"]
    assert len(refused) == 3
