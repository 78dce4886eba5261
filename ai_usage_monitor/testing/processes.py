"""Helpers for the servers the tests and benchmarks start: a free loopback port, a clean stop."""

from __future__ import annotations

import signal
import socket
import subprocess
from contextlib import closing

__all__ = ["free_port", "interrupt_process", "stop_process"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (a server that cannot take a socket must be given a number)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def interrupt_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop a child as Ctrl-C would (SIGINT), and kill it when it has not ended in ``timeout`` s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate a child process if it still runs, and kill it when it does not stop in ``timeout`` s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
