"""Real servers for the ops end-to-end tests: Debian's Alertmanager as a process, and the monitor's app
under uvicorn in a thread (with the alert webhook router included). Both on free 127.0.0.1 ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from ai_usage_monitor.api.app import create_app
from ai_usage_monitor.config import Settings
from tests.support.prometheus import free_port

__all__ = ["AlertmanagerServer", "monitor_server"]


@dataclass
class AlertmanagerServer:
    """A running ``prometheus-alertmanager``: no clustering, storage in ``workdir``."""

    workdir: Path
    port: int
    process: subprocess.Popen[bytes]
    client: httpx.Client = field(repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls, workdir: Path, config: Mapping[str, Any], ready_timeout: float = 20.0
    ) -> AlertmanagerServer:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise RuntimeError("Alertmanager is not installed (Debian package 'prometheus-alertmanager')")
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(dict(config), allow_unicode=True), encoding="utf-8")
        port = free_port()
        with (workdir / "alertmanager.log").open("ab") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = cls(workdir, port, process, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0))
        try:
            server._wait_ready(ready_timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "alertmanager.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"alertmanager exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"alertmanager not ready after {timeout} s:\n{self.log_tail()}")

    def alerts(self) -> list[dict[str, Any]]:
        answer = self.client.get("/api/v2/alerts")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def monitor_server(settings: Settings) -> Iterator[str]:
    """The monitor's real app under uvicorn in a thread; yields its base URL."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the monitor did not start")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
