"""The monitor's real app under uvicorn in a thread, on a free 127.0.0.1 port: for tests that need real
HTTP (a browser, Prometheus, Alertmanager's webhook, streaming clients)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn

from ai_usage_monitor.api import create_app
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.support.records import write_records

__all__ = ["serve_monitor", "serve_records"]


@contextmanager
def serve_monitor(settings: Settings, start_timeout: float = 30.0) -> Iterator[str]:
    """``create_app(settings)`` served through its lifespan until the block ends; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the monitor's app did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def serve_records(records_dir: Path, records: Iterable[UsageRecord], timezone: str) -> Iterator[str]:
    """``records`` written to ``records_dir`` and the monitor serving them (no token); yields the base URL."""
    write_records(records_dir, records, ZoneInfo(timezone))
    settings = Settings(
        records_dir=records_dir, timezone=timezone, api_token=None, raise_internal_errors=True
    )
    with serve_monitor(settings) as base:
        yield base
