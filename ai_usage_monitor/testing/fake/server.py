"""The fake provider's HTTP server: OpenAI, DashScope and Anthropic routes on one loopback port.

Stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 keep-alive with Nagle off, so a real SDK call costs
a few milliseconds rather than the ~40 ms of delayed-ACK stalls.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import orjson

from ai_usage_monitor.testing.fake import anthropic_wire, dashscope_wire, openai_wire
from ai_usage_monitor.testing.fake.exchange import Call, Reply, json_reply

__all__ = ["FakeProvider", "RecordedRequest", "route"]

Endpoint = Callable[[Call], Reply]

OPENAI_PREFIXES = ("/v1", "/compatible-mode/v1")
DASHSCOPE_PREFIX = "/api/v1"
_OPENAI_ROUTES: dict[str, Endpoint] = {
    "/chat/completions": openai_wire.chat_completions,
    "/embeddings": openai_wire.embeddings,
    "/responses": openai_wire.responses,
}
_DASHSCOPE_ROUTES: dict[str, Endpoint] = {
    "/services/aigc/text-generation/generation": dashscope_wire.generation,
    "/services/aigc/multimodal-generation/generation": dashscope_wire.multimodal_generation,
    "/services/embeddings/text-embedding/text-embedding": dashscope_wire.text_embedding,
}
ANTHROPIC_MESSAGES_PATH = "/v1/messages"
_ROUTES: dict[str, Endpoint] = {
    ANTHROPIC_MESSAGES_PATH: anthropic_wire.messages,
    **{prefix + path: endpoint for prefix in OPENAI_PREFIXES for path, endpoint in _OPENAI_ROUTES.items()},
    **{DASHSCOPE_PREFIX + path: endpoint for path, endpoint in _DASHSCOPE_ROUTES.items()},
}
_APP_ROUTE = re.compile(rf"^{DASHSCOPE_PREFIX}/apps/(?P<app_id>[^/]+)/completion$")


def route(path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint serving ``path`` (query string ignored) and its path parameters, or ``None``."""
    path = urlsplit(path).path.rstrip("/")
    endpoint = _ROUTES.get(path)
    if endpoint is not None:
        return endpoint, {}
    match = _APP_ROUTE.match(path)
    if match:
        return dashscope_wire.app_completion, match.groupdict()
    return None


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received: method, path (with query), lower-case headers, decoded JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the fake must not flood test or benchmark output."""

    def setup(self) -> None:
        super().setup()
        self.server.provider.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.provider.track(self.connection, open_=False)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/health":
            self._send(json_reply({"status": "ok"}))
        else:
            self._send(_not_found(self.path))

    def do_POST(self) -> None:
        raw = self._read_body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as exc:
            self._send(openai_wire.error_reply(400, f"fake provider: body is not JSON: {exc}"))
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        provider = self.server.provider
        provider.record(RecordedRequest("POST", self.path, headers, body))
        found = route(self.path)
        if found is None or not isinstance(body, dict):
            self._send(
                _not_found(self.path) if found is None else openai_wire.error_reply(400, "not an object")
            )
            return
        endpoint, params = found
        call = Call(body, headers, provider.next_request_id(), int(time.time()), params)
        try:
            reply = endpoint(call)
        except Exception as exc:  # a bug in the fake: answer it rather than hang the client
            reply = json_reply({"error": {"message": f"fake provider failed: {exc!r}"}}, status=500)
        self._send(reply, provider.latency_s)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply, latency_s: float = 0.0) -> None:
        if reply.delay_s + latency_s > 0:
            time.sleep(reply.delay_s + latency_s)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.frames is None:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, data in enumerate(reply.frames):
                if i and reply.frame_delay_s > 0:
                    time.sleep(reply.frame_delay_s)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _not_found(path: str) -> Reply:
    return json_reply({"error": {"message": f"fake provider: no route for {path}", "code": "not_found"}}, 404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], provider: FakeProvider) -> None:
        self.provider = provider
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS round trip the fake never needs.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients dropping their connection (reset, closed pipe) is normal; anything else is reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeProvider:
    """A local fake OpenAI + DashScope + Anthropic server; a context manager, or ``start()``/``stop()``.

    ``latency_ms`` is slept before every answer; a request's ``[[fake delay_ms=N]]`` adds to it and also
    spaces stream frames. ``keep_requests=False`` stops recording requests (long demos, benchmarks).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0, keep_requests: bool = True
    ) -> None:
        self.host = host
        self._requested_port = port
        self.latency_s = latency_ms / 1000.0
        self.keep_requests = keep_requests
        self.requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeProvider is not started")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def compatible_base_url(self) -> str:
        """DashScope's OpenAI-compatible mode: the OpenAI protocol under ``/compatible-mode/v1``."""
        return f"{self.base_url}/compatible-mode/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` of an ``anthropic.Anthropic`` client (the SDK adds ``/v1/messages``)."""
        return self.base_url

    @property
    def dashscope_base_url(self) -> str:
        """The value for ``dashscope.base_http_api_url``."""
        return f"{self.base_url}{DASHSCOPE_PREFIX}"

    def start(self) -> FakeProvider:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-provider",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise pin their threads
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def record(self, request: RecordedRequest) -> None:
        if self.keep_requests:
            with self._lock:
                self.requests.append(request)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def next_request_id(self) -> str:
        return f"fake-{next(self._ids):06d}"

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
