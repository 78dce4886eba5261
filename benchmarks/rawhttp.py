"""One HTTP/1.1 request sent byte for byte over a socket, so request targets and headers reach the server
exactly as an attacker writes them (an HTTP client would normalise ``..``, ``%2f`` or odd headers)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["RawAnswer", "raw_request"]


@dataclass(frozen=True)
class RawAnswer:
    status: int
    body: bytes


def raw_request(
    base_url: str,
    target: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
    timeout: float = 5.0,
) -> RawAnswer:
    """Send ``method target`` with ``headers`` (``Host`` defaults to the server's address); status 0 means
    no answer within ``timeout``."""
    parts = urlsplit(base_url)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host if host is not None else parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    except OSError:
        return RawAnswer(0, b"")
    head, _, content = answer.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return RawAnswer(0, answer)
    return RawAnswer(status, content)
