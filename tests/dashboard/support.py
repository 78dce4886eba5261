"""Helpers for the browser tests: the real app served on a free loopback port, Debian's Chromium, records."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from playwright.sync_api import Browser, Page, Playwright

from ai_usage_monitor.api.app import create_app
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord

__all__ = [
    "ARTIFACTS",
    "CHROMIUM_ARGS",
    "PAGE",
    "approx_equal",
    "launch_chromium",
    "save_screenshot",
    "serve",
    "write_records",
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE = "/static/ai_usage_monitor.html"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; Playwright never downloads a browser of its own here."""
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact (``test-artifacts/<name>``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def write_records(records_dir: Path, records: Iterable[UsageRecord], timezone: str) -> None:
    """Append records to ``usage_YYYY-MM-DD.jsonl``, the date being the record's local date."""
    records_dir.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo(timezone)
    for record in records:
        day = datetime.fromtimestamp(record.timestamp, tz).date().isoformat()
        with (records_dir / f"usage_{day}.jsonl").open("ab") as out:
            out.write(record.to_json_line())


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The monitor's real app under uvicorn in a thread on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the monitor's app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def approx_equal(a: Any, b: Any) -> bool:
    """Numbers equal up to float noise (the page reads them back from text attributes)."""
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
