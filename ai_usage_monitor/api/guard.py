"""The web guard in front of every route: request body size, Host allow-list (DNS rebinding), cross-site
writes (CSRF) and the browser security headers on every answer.

One pure ASGI middleware, so streamed downloads and the Alertmanager webhook pass through untouched, and a
body is counted while it is read: a chunked body with no ``Content-Length`` is cut off at the limit too.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from fastapi import FastAPI, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ai_usage_monitor.config import Settings

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "LOOPBACK_HOSTS",
    "SECURITY_HEADERS",
    "BodyTooLarge",
    "HostPolicy",
    "WebGuard",
    "add_web_guard",
    "host_name",
]

#: Names that always reach this machine only; a rebinding page can never make a browser send them.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

#: The dashboard uses only its own files (its icon is a ``data:`` SVG); nothing may frame any page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Content types a cross-site HTML form or a no-preflight ``fetch`` can send.
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
#: ``Sec-Fetch-Site`` values of requests a page of this very server (or the user, typing) started.
_OWN_SITES = frozenset({"same-origin", "none"})
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


class BodyTooLarge(HTTPException):
    """The request body passed ``max_body_bytes``; an HTTP exception so FastAPI answers 413 as it reads."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request body larger than {limit} bytes (the server's AI_USAGE_MAX_BODY_BYTES)",
        )


def host_name(value: str) -> str:
    """The host part of a ``Host`` header or netloc, lower-case, without port, brackets or final dot;
    ``""`` when what follows the host is not a port (``localhost:80.evil.example``)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
        rest = ":" + port
    else:
        host, rest = value, ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return ""
    return host.rstrip(".")


class HostPolicy:
    """Which ``Host`` values are answered: loopback, the configured host, extra names, the bound address."""

    def __init__(self, settings: Settings) -> None:
        names = {host_name(h) for h in settings.allowed_hosts}
        self.any = "*" in names
        self.suffixes = tuple(name for name in names if name.startswith("."))
        self.names = (names - set(self.suffixes) - {""}) | LOOPBACK_HOSTS
        if settings.host not in _WILDCARD_HOSTS:
            self.names.add(host_name(settings.host))

    def allows(self, host: str, bound: str | None) -> bool:
        name = host_name(host)
        if self.any or name in self.names or name.endswith(self.suffixes):
            return True
        if bound is None or name != host_name(bound):
            return False
        # the socket's own address: an IP literal, which a rebinding page cannot send as its Host
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


def _refuse(code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code, headers=dict(SECURITY_HEADERS))


def _cross_site(method: str, headers: Headers, host: str | None) -> str | None:
    """Why a write looks cross-site (a browser on another site sent it), or None."""
    if method in _SAFE_METHODS:
        return None
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in _OWN_SITES:
        return f"Sec-Fetch-Site is {fetch_site!r}"
    origin = headers.get("origin")
    if origin is not None:
        netloc = urlsplit(origin).netloc if origin != "null" else ""
        if not netloc or host is None or netloc.lower() != host.strip().lower():
            return f"Origin {origin!r} is not this server"
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in _FORM_TYPES and "authorization" not in headers:
        return f"a {content_type} body without a token is what a cross-site form sends"
    return None


class WebGuard:
    """Refuse foreign Host values (400), cross-site writes (403) and bodies over the limit (413); add the
    security headers to every answer."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.hosts = HostPolicy(settings)

    def refusal(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        """The answer to a request refused before it reaches a route, or None to let it through."""
        host = headers.get("host")
        bound = scope.get("server")
        if host is not None and not self.hosts.allows(host, bound[0] if bound else None):
            return _refuse(
                status.HTTP_400_BAD_REQUEST,
                f"host {host_name(host)!r} is not allowed: add it to AI_USAGE_ALLOWED_HOSTS",
            )
        reason = _cross_site(scope["method"], headers, host)
        if reason is not None:
            return _refuse(status.HTTP_403_FORBIDDEN, f"cross-site write refused: {reason}")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            error = BodyTooLarge(self.max_body)
            code = error.status_code if length.isdigit() else status.HTTP_400_BAD_REQUEST
            return _refuse(code, error.detail if length.isdigit() else "invalid Content-Length")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope, Headers(scope=scope))
        if refused is not None:
            await refused(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge as error:
            if started:
                raise
            await _refuse(error.status_code, error.detail)(scope, receive, send)


def add_web_guard(app: FastAPI, settings: Settings | None = None) -> None:
    """Put the guard in front of ``app`` (outermost, so it sees every request first)."""
    app.add_middleware(WebGuard, settings=settings or Settings())
