"""A throw-away ``redis-server`` on a free 127.0.0.1 port, without persistence, for tests and benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from ai_usage_monitor.testing.processes import free_port, stop_process

__all__ = ["RedisServer"]


class RedisServer:
    """``with RedisServer(workdir) as server:`` runs ``redis-server`` until the block ends; ``server.url``."""

    def __init__(self, workdir: Path, *, start_timeout: float = 10.0, attempts: int = 3) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        self.binary = binary
        self.workdir = Path(workdir)
        self.start_timeout = start_timeout
        self.attempts = attempts
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start on a free port, again on another one if the port was taken before the server bound it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(self.attempts):
            self.port = free_port()
            command = [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ]
            with (self.workdir / "redis-server.log").open("ab") as log:
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.workdir / 'redis-server.log'}")

    def _wait_ready(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0)
        deadline = time.monotonic() + self.start_timeout
        try:
            while time.monotonic() < deadline and self.process is not None and self.process.poll() is None:
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
