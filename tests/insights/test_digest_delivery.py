"""The digest reaches a local DingTalk robot exactly once per period: at the configured time (the clock is
injected, never slept), not again after a restart or from a second scheduler over the same records folder,
the weekly one on its weekday only; and a real ``ai-usage-monitor serve`` started after the time sends the
day's digest once (catch-up), not again when it is restarted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ai_usage_monitor.config import Settings
from ai_usage_monitor.insights.digest_schedule import DigestScheduler
from ai_usage_monitor.notify import DeliveryLog, Outbox, delivery_log_path
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.testing.processes import interrupt_process
from tests.api.helpers import SHANGHAI
from tests.insights.digest_records import at, digest_records, digest_settings
from tests.notify.conftest import FAST, wait_until
from tests.support.processes import free_port
from tests.support.records import write_records
from tests.support.robots import RobotKind, RobotReceiver, robot_receiver

SEND_DAY = date(2026, 11, 18)  # a Wednesday
SECRET = "SECdigest-test"


@pytest.fixture
def robot() -> Iterator[RobotReceiver]:
    with robot_receiver("dingtalk", SECRET) as receiver:
        yield receiver


def _settings(root: Path, robot: RobotReceiver, **overrides: object) -> Settings:
    channels = {"team": {"type": "dingtalk", "url": robot.url, "secret": SECRET}}
    values: dict[str, object] = {"channels": channels, "digest_channels": ["team"], "digest_time": "09:00"}
    return digest_settings(root, **{**values, **overrides})


class _Process:
    """One "server process": its own store and outbox over the shared records folder."""

    def __init__(self, settings: Settings) -> None:
        self.store = UsageStore(settings)
        self.store.refresh()
        path = delivery_log_path(settings.records_dir)
        self.outbox = Outbox(path, settings.channels, FAST, exit_wait=2.0, poll_seconds=0.05)

    def scheduler(self, clock: Callable[[], float] = time.time, max_sleep: float = 60.0) -> DigestScheduler:
        return DigestScheduler(self.store, clock=clock, outbox=self.outbox, max_sleep=max_sleep)

    def stop(self) -> None:
        self.outbox.stop(wait=2.0)
        self.store.close()


@pytest.fixture
def processes() -> Iterator[list[_Process]]:
    started: list[_Process] = []
    yield started
    for process in started:
        process.stop()


def _start(processes: list[_Process], settings: Settings) -> _Process:
    process = _Process(settings)
    processes.append(process)
    return process


def _titles(robot: RobotReceiver) -> list[str]:
    return [item["body"]["markdown"]["title"] for item in robot.accepted]


def test_sent_once_at_the_time_and_not_after_a_restart(
    tmp_path: Path, robot: RobotReceiver, processes: list[_Process]
) -> None:
    settings = _settings(tmp_path, robot, digest_weekly_day="never")
    write_records(settings.records_dir, digest_records(SEND_DAY), SHANGHAI)
    first = _start(processes, settings)
    scheduler = first.scheduler()
    assert scheduler.run_due(at(SEND_DAY, 8, 59)) == []
    assert scheduler.seconds_to_next(at(SEND_DAY, 8, 59)) == pytest.approx(60)
    key = f"digest:daily:{SEND_DAY - timedelta(days=1)}"
    assert scheduler.run_due(at(SEND_DAY, 9, 0)) == [key]
    wait_until(lambda: len(robot.accepted) == 1)
    body = robot.accepted[0]["body"]["markdown"]["text"]
    assert _titles(robot) == [f"AI 用量日报 {SEND_DAY - timedelta(days=1)}"]
    assert "¥1.18 (6 次调用)" in body and "主播甲" in body
    assert scheduler.run_due(at(SEND_DAY, 9, 30)) == []
    first.stop()
    processes.remove(first)

    restarted = _start(processes, settings)  # a new process over the same records folder, later that day
    assert restarted.scheduler().run_due(at(SEND_DAY, 11, 0)) == []
    restarted.outbox.start()
    assert restarted.outbox.flush(2.0)
    assert robot.requests == 1
    assert restarted.scheduler().run_due(at(SEND_DAY + timedelta(days=1), 9, 0)) == [
        f"digest:daily:{SEND_DAY}"
    ]
    wait_until(lambda: len(robot.accepted) == 2)
    assert robot.requests == 2


def test_two_running_schedulers_deliver_once_when_their_clock_reaches_the_time(
    tmp_path: Path, robot: RobotReceiver, processes: list[_Process]
) -> None:
    settings = _settings(tmp_path, robot, digest_weekly_day="never")
    write_records(settings.records_dir, digest_records(SEND_DAY), SHANGHAI)
    clock = [at(SEND_DAY, 8, 59, 50)]
    schedulers = [
        _start(processes, settings).scheduler(clock=lambda: clock[0], max_sleep=0.02) for _ in range(2)
    ]
    for scheduler in schedulers:
        scheduler.start()
    try:
        time.sleep(0.3)  # both threads look at the clock several times before the time
        assert robot.requests == 0
        clock[0] = at(SEND_DAY, 9, 0, 1)
        wait_until(lambda: len(robot.accepted) == 1)
        time.sleep(0.5)  # and keep looking after it
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    for process in processes:
        assert process.outbox.flush(2.0)
    assert robot.requests == 1


def test_weekly_digest_on_its_weekday_only(
    tmp_path: Path, robot: RobotReceiver, processes: list[_Process]
) -> None:
    settings = _settings(tmp_path, robot, digest_weekly_day="wednesday", digest_language="en")
    write_records(settings.records_dir, digest_records(SEND_DAY), SHANGHAI)
    scheduler = _start(processes, settings).scheduler()
    for back in range(6, 0, -1):  # Thursday .. Tuesday: the daily digest alone
        scheduler.run_due(at(SEND_DAY - timedelta(days=back), 9, 0))
    wait_until(lambda: len(robot.accepted) == 6)
    assert not any("weekly" in title for title in _titles(robot))
    assert scheduler.run_due(at(SEND_DAY, 9, 5)) == [
        f"digest:daily:{SEND_DAY - timedelta(days=1)}",
        "digest:weekly:2026-W47",
    ]
    wait_until(lambda: len(robot.accepted) == 8)
    weekly = [t for t in _titles(robot) if "weekly" in t]
    assert weekly == ["AI usage weekly digest 2026-11-11 – 2026-11-17"]
    body = next(
        a["body"]["markdown"]["text"] for a in robot.accepted if "weekly" in a["body"]["markdown"]["title"]
    )
    assert "**Spent in the 7 days**: ¥1.84 (12 calls), vs the week before +162.9% (¥0.7000)" in body


def test_each_channel_gets_its_rendering(
    tmp_path: Path, processes: list[_Process], smtp_inbox: tuple[Any, int]
) -> None:
    inbox, smtp_port = smtp_inbox
    kinds: tuple[RobotKind, ...] = ("dingtalk", "feishu", "wecom", "slack")
    with ExitStack() as stack:
        robots = {kind: stack.enter_context(robot_receiver(kind)) for kind in kinds}
        channels: dict[str, Any] = {kind: {"type": kind, "url": robots[kind].url} for kind in kinds}
        channels["mail"] = {
            "type": "email",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "starttls": False,
            "from": "monitor@example.com",
            "to": ["ops@example.com"],
        }
        settings = digest_settings(
            tmp_path, channels=channels, digest_channels=[*kinds, "mail"], digest_language="en"
        )
        write_records(settings.records_dir, digest_records(SEND_DAY), SHANGHAI)
        _start(processes, settings).scheduler().run_due(at(SEND_DAY, 9, 0))
        wait_until(lambda: all(len(r.accepted) == 1 for r in robots.values()) and len(inbox.messages) == 1)
    spent = "**Spent yesterday**: ¥1.18 (6 calls)"
    assert spent in robots["dingtalk"].accepted[0]["body"]["markdown"]["text"]
    assert spent in robots["wecom"].accepted[0]["body"]["markdown"]["content"]
    assert spent in robots["feishu"].accepted[0]["body"]["card"]["elements"][0]["content"]
    section = robots["slack"].accepted[0]["body"]["blocks"][1]["text"]["text"]
    assert "*Spent yesterday*: ¥1.18 (6 calls)" in section and "**" not in section
    mail = inbox.messages[0]
    assert mail["Subject"] == f"AI usage daily digest {SEND_DAY - timedelta(days=1)}"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "- Spent yesterday: ¥1.18 (6 calls)" in text and "**" not in text
    assert "<h3>AI usage daily digest" in html and "1. 主播甲: ¥0.6000 (2 calls, 51%)" in html


def _toml(path: Path, robot: RobotReceiver) -> Path:
    path.write_text(
        f'digest_channels = ["team"]\ndigest_time = "00:00"\ndigest_weekly_day = "never"\n'
        f'[channels.team]\ntype = "dingtalk"\nurl = "{robot.url}"\nsecret = "{SECRET}"\n',
        encoding="utf-8",
    )
    return path


def _serve(records: Path, config: Path, done: Callable[[], bool], linger: float = 0.0) -> None:
    """Run ``serve`` until it answers ``/health`` and ``done()`` holds (at most 20 s), ``linger`` s more,
    then stop it with Ctrl-C."""
    port = free_port()
    env = {**os.environ, "AI_USAGE_CONFIG": str(config), "AI_USAGE_TIMEZONE": "Asia/Shanghai"}
    command = [sys.executable, "-c", "from ai_usage_monitor.cli import main; main()", "serve"]
    args = ["--port", str(port), "--records-dir", str(records), "--log-level", "warning"]
    process = subprocess.Popen([*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not (_answers(port) and done()):
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the server did not get there in 20 s"
            time.sleep(0.05)
        time.sleep(linger)
    finally:
        interrupt_process(process)
    assert process.returncode == 0, process.communicate()[1].decode()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_a_server_started_after_the_time_sends_the_days_digest_once(
    tmp_path: Path, robot: RobotReceiver
) -> None:
    records = tmp_path / "records"
    today = datetime.now(SHANGHAI).date()
    write_records(records, digest_records(today), SHANGHAI)
    config = _toml(tmp_path / "monitor.toml", robot)
    _serve(records, config, lambda: len(robot.accepted) == 1)
    assert _titles(robot) == [f"AI 用量日报 {today - timedelta(days=1)}"]
    log = DeliveryLog(delivery_log_path(records))
    try:
        looks = len(log.attempts())
        # restarted the same day: it runs 2 s past answering (its first look is at once) and sends nothing
        _serve(records, config, lambda: True, linger=2.0)
        assert robot.requests == 1 and len(log.attempts()) == looks
    finally:
        log.close()
