"""`ai-usage-monitor demo`: real instrumented SDK traffic to the local fake, shown within seconds."""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import sync_playwright

from ai_usage_monitor.config import Settings
from ai_usage_monitor.demo import (
    ANALYSIS,
    DEMO_RECORDS_DIR,
    DEMO_SERVICE,
    SCRIPT,
    backfill,
    demo_records_dir,
    plan_call,
    run_demo,
)
from ai_usage_monitor.instrumentation import instrumented_providers
from ai_usage_monitor.testing.fake_provider import parse_directive
from tests.dashboard.support import PAGE, launch_chromium
from tests.support.processes import free_port
from tests.support.records import read_records

TIMEZONE = "Asia/Shanghai"
CLI = Path(sys.executable).with_name("ai-usage-monitor")


def refuses(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def dashboard(base: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{base}/api/ai_usage/dashboard", timeout=5)
    except httpx.TransportError:
        return None
    data: dict[str, Any] = response.json()
    return data


def test_planned_calls_mix_models_clients_streams_cache_and_errors() -> None:
    rng = random.Random(1)
    calls = [plan_call(rng, function, i) for i in range(240) for function in (ANALYSIS, SCRIPT)]
    assert {c.model for c in calls} == {"qwen-plus", "qwen-turbo", "qwen-max", "gpt-4o-mini"}
    assert {c.client for c in calls} == {"dashscope", "compatible", "openai"}
    assert {c.provider for c in calls if c.model == "gpt-4o-mini"} == {"openai"}
    assert any(c.stream and c.client == "dashscope" for c in calls)
    assert any(c.stream and c.client != "dashscope" for c in calls)
    assert any(c.cached_tokens for c in calls if c.function == ANALYSIS)
    assert any(c.reasoning_tokens for c in calls)
    assert Counter(c.error for c in calls) == Counter({None: 440, 500: 20, 429: 20})
    for call in calls[:50]:
        directive = parse_directive(f"hello {call.directive()}")
        assert directive is not None
        assert (directive.prompt_tokens, directive.completion_tokens, directive.cached_tokens) == (
            call.prompt_tokens,
            call.completion_tokens,
            call.cached_tokens,
        )
        assert directive.error == call.error
        assert call.cached_tokens <= call.prompt_tokens and call.reasoning_tokens <= call.completion_tokens


def test_demo_never_writes_into_the_real_records_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AI_USAGE_RECORDS_DIR", raising=False)
    assert demo_records_dir(Settings()) == DEMO_RECORDS_DIR
    assert demo_records_dir(Settings(records_dir=Path("records/ai_usage"))) == DEMO_RECORDS_DIR
    assert demo_records_dir(Settings(records_dir=tmp_path)) == tmp_path
    monkeypatch.setenv("AI_USAGE_RECORDS_DIR", str(tmp_path / "real"))
    assert demo_records_dir(Settings()) == DEMO_RECORDS_DIR


def test_backfill_writes_priced_history_once(instrumented: Any) -> None:
    tz = ZoneInfo(TIMEZONE)
    records_dir: Path = instrumented.records_dir
    now = datetime(2026, 3, 14, 15, 30, tzinfo=tz)  # a Saturday afternoon
    written = backfill(3, tz, records_dir, now=now.timestamp())
    records = instrumented.records()
    assert written == len(records) > 300
    today = now.date()
    days = {datetime.fromtimestamp(r["timestamp"], tz).date() for r in records}
    assert days == {today - timedelta(days=n) for n in (0, 1, 2, 3)}, "history runs up to today"
    assert {path.name for path in records_dir.glob("usage_*.jsonl")} == {
        f"usage_{day.isoformat()}.jsonl" for day in days
    }
    todays = [r["timestamp"] for r in records if datetime.fromtimestamp(r["timestamp"], tz).date() == today]
    assert max(todays) < now.timestamp(), "nothing in the future"
    assert 0 < sum(ts >= now.timestamp() - 3600 for ts in todays) < len(todays) / 3, "this hour is not today"
    ok = [r for r in records if r["success"]]
    assert all(r["priced"] and r["cost"] > 0 for r in ok), "history is priced by the catalogue"
    failed = [r for r in records if not r["success"]]
    assert 0 < len(failed) < len(records) / 5
    assert all(r["input_tokens"] is None and r["cost"] == 0 for r in failed), "failed calls carry no usage"
    assert len({r["anchor_id"] for r in failed}) >= 3 and len({r["user_id"] for r in failed}) >= 3
    assert {r["anchor_id"] for r in records} == {"anchor_001", "anchor_002", "anchor_003", "anchor_004"}
    assert backfill(3, tz, records_dir, now=now.timestamp() + 600) == 0, "a second run adds nothing"
    assert len(instrumented.records()) == written


def test_run_demo_in_a_thread_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        records_dir=tmp_path / "demo", port=port, timezone=TIMEZONE, raise_internal_errors=True
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=run_demo, args=(settings,), kwargs={"open_url_message": False, "stop": stop}
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        data = None
        while time.monotonic() < deadline:
            data = dashboard(base)
            if data and data["today"]["cost"] > 0:
                break
            time.sleep(0.25)
        assert data and data["today"]["cost"] > 0
        assert instrumented_providers() == ["openai", "dashscope"]
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("demo-")]
    assert instrumented_providers() == []
    assert refuses(base)
    records = read_records(tmp_path / "demo")
    assert records and {r["source"] for r in records} <= {"openai", "dashscope"}
    assert {r["service"] for r in records} == {DEMO_SERVICE}  # the simulated app's name, for the picker


@pytest.fixture
def demo_process(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], float, Path, int]]:
    port = free_port()
    records_dir = tmp_path / "demo-records"
    env = {**os.environ, "AI_USAGE_TIMEZONE": TIMEZONE, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [str(CLI), "demo", "--port", str(port), "--records-dir", str(records_dir), "--backfill", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield process, lines, started, records_dir, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def read_until(lines: queue.Queue[str], pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r} in {seen!r}")


def test_demo_command_shows_cost_within_ten_seconds_and_stops_on_sigint(
    demo_process: tuple[subprocess.Popen[str], queue.Queue[str], float, Path, int],
) -> None:
    process, lines, started, records_dir, port = demo_process
    base = f"http://127.0.0.1:{port}"
    url = read_until(lines, r"dashboard:\s+(\S+)", timeout=10).group(1)
    assert url == f"{base}{PAGE}"
    fake = read_until(lines, r"fake LLM:\s+(http://127\.0\.0\.1:\d+)", timeout=2).group(1)

    data = None
    while time.monotonic() - started < 10:
        data = dashboard(base)
        if data and data["today"]["cost"] > 0:
            break
        time.sleep(0.2)
    assert data and data["today"]["cost"] > 0, "the dashboard shows a cost within 10 s of starting the demo"
    assert sum(day["cost"] > 0 for day in data["cost_trend"][:-1]) == 3, "--backfill 3 fills three past days"

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(locale="en-US")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.wait_for_function(
                "() => Number(document.querySelector('[data-testid=\"kpi-today-cost\"]').dataset.value) > 0"
            )
            assert page.text_content('[data-testid="kpi-today-cost"]').startswith("¥")
            assert errors == []
        finally:
            browser.close()

    # Let every kind of call happen at least once: four models, streams, cache hits, failures.
    deadline = time.monotonic() + 20
    while True:
        live = [r for r in read_records(records_dir) if r["tags"].get("demo") == "live"]
        models = {r["model"].split("-2024")[0] for r in live}
        kinds = {
            "stream": any(r["stream"] for r in live),
            "cached": any((r["cached_tokens"] or 0) > 0 for r in live),
            "error": any(not r["success"] for r in live),
        }
        if models >= {"qwen-plus", "qwen-turbo", "qwen-max", "gpt-4o-mini"} and all(kinds.values()):
            break
        assert time.monotonic() < deadline, (models, kinds)
        time.sleep(0.5)
    assert {r["source"] for r in live} == {"openai", "dashscope"}, "made by the instrumented SDKs"
    assert {r["function"] for r in live} == {ANALYSIS, SCRIPT}

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert refuses(base) and refuses(fake), "the server and the fake provider are stopped"


def test_demo_command_stops_on_sigterm(
    demo_process: tuple[subprocess.Popen[str], queue.Queue[str], float, Path, int],
) -> None:
    process, lines, _started, _records_dir, port = demo_process
    read_until(lines, r"dashboard:\s+http", timeout=30)
    fake = read_until(lines, r"fake LLM:\s+(http://127\.0\.0\.1:\d+)", timeout=2).group(1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert refuses(f"http://127.0.0.1:{port}/health") and refuses(fake)
