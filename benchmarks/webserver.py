"""The monitor's real server for the web benchmarks: ``ai-usage-monitor serve`` in its own process on a free
127.0.0.1 port, with a few sample records, stopped by its pid when the block ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["TZ", "free_port", "monitor_env", "rss_mb", "serve", "serve_process", "write_sample_records"]

TZ = "Asia/Shanghai"
_START = "from ai_usage_monitor.cli import main; main()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def monitor_env(
    records_dir: Path,
    port: int | None = None,
    token: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """This environment without any AI_USAGE_* of its own, plus the settings of a benchmark monitor."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_USAGE_")}
    env.update(
        AI_USAGE_RECORDS_DIR=str(records_dir),
        AI_USAGE_HOST="127.0.0.1",
        AI_USAGE_TIMEZONE=TZ,
        AI_USAGE_TAIL_INTERVAL="0.1",
        **(extra or {}),
    )
    if port is not None:
        env["AI_USAGE_PORT"] = str(port)
    if token:
        env["AI_USAGE_API_TOKEN"] = token
    return env


def write_sample_records(records_dir: Path, count: int = 50) -> None:
    """``count`` records through the public ``record_ai_usage``, in a child process with its own settings."""
    code = (
        "from ai_usage_monitor import record_ai_usage\n"
        f"for i in range({count}):\n"
        "    record_ai_usage('qwen-plus', '实时分析', 100 + i, 20, 300.0, i % 7 != 0,\n"
        "                    anchor_id=f'a{i % 5}', user_id=f'u{i % 9}', session_id='s1',\n"
        "                    error_msg=None if i % 7 else 'Throttling')\n"
    )
    subprocess.run([sys.executable, "-c", code], env=monitor_env(records_dir), check=True)


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def serve_process(
    records_dir: Path, *, token: str | None = None, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """The server over ``records_dir`` until the block ends; yields its base URL and process id."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _START, "serve", "--log-level", "warning"],
        env=monitor_env(records_dir, port, token, env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the monitor did not start")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve(
    records_dir: Path, *, token: str | None = None, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """The server over ``records_dir`` until the block ends; yields its base URL."""
    with serve_process(records_dir, token=token, env=env) as (url, _pid):
        yield url
