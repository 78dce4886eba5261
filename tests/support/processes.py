"""A server binary run by a test: started on a free 127.0.0.1 port with its output in a log file, waited
for until ``/-/ready`` answers, stopped at the end. Prometheus and Alertmanager are such servers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

import httpx

from ai_usage_monitor.testing.processes import free_port, stop_process

__all__ = ["ServerProcess", "free_port"]


@dataclass
class ServerProcess:
    """A running server process; subclasses set ``name`` (of the log and in errors) and ``error``."""

    name: ClassVar[str] = "server"
    error: ClassVar[type[Exception]] = RuntimeError

    workdir: Path
    port: int
    process: subprocess.Popen[bytes]
    client: httpx.Client = field(repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @classmethod
    def launch(
        cls,
        workdir: Path,
        command: Callable[[int], Sequence[str]],
        *,
        client_timeout: float,
        ready_timeout: float,
        attempts: int = 3,
    ) -> Self:
        """Run ``command(port)`` in ``workdir`` and wait until it is ready. A server that does not come up
        is stopped and started again on another port (the free port may be taken before the server binds)."""
        last_error: Exception | None = None
        for _attempt in range(attempts):
            port = free_port()
            with (workdir / f"{cls.name}.log").open("ab") as log:
                process = subprocess.Popen(
                    list(command(port)), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=client_timeout)
            server = cls(workdir, port, process, client)
            try:
                server.wait_ready(ready_timeout)
            except cls.error as exc:
                server.stop()
                last_error = exc
                continue
            except BaseException:
                server.stop()
                raise
            return server
        raise last_error or cls.error(f"{cls.name} did not start")

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / f"{self.name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.error(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise self.error(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        self.client.close()
        stop_process(self.process)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
