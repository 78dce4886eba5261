"""The monitor's real app under uvicorn in a thread, on a free 127.0.0.1 port: for tests that need real
HTTP (a browser, Prometheus, Alertmanager's webhook, streaming clients)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ai_usage_monitor.api import create_app
from ai_usage_monitor.config import Settings

__all__ = ["serve_monitor"]


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
