"""An HTTPS forwarding proxy for tests: real provider base URLs (``https://api.deepseek.com``…) reach the
local fake provider.

The SDK's HTTP client opens ``CONNECT host:443`` through the proxy; the proxy answers it, ends TLS with a
certificate for that host signed by a test CA (which the client trusts), rewrites each request's path to
the fake's ``/v1/<endpoint>`` and passes the bytes on to the fake. Answers come back unchanged, streams
included. One asyncio loop in a thread does it all, so TLS is never shared between threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CertificateFiles", "TlsForwardingProxy", "make_certificates"]

#: endpoint suffixes the fake serves under ``/v1``
_ENDPOINTS = ("/chat/completions", "/embeddings", "/responses")


@dataclass(frozen=True)
class CertificateFiles:
    """A CA the client trusts, and one server certificate (signed by it) valid for every host given."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(folder: Path, hosts: Iterable[str]) -> CertificateFiles:
    """Write a test CA and a server certificate for ``hosts`` (a day long) into ``folder``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("ai-usage-monitor test CA"))
        .issuer_name(_name("ai-usage-monitor test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("ai-usage-monitor test server"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = CertificateFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(pem))
    files.cert_file.write_bytes(cert.public_bytes(pem))
    files.key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def _fake_path(target: str) -> str:
    """``/api/paas/v4/chat/completions?x`` → ``/v1/chat/completions?x``: the fake's route for the endpoint."""
    path, sep, query = target.partition("?")
    for suffix in _ENDPOINTS:
        if path.rstrip("/").endswith(suffix):
            return "/v1" + suffix + sep + query
    return target


@dataclass
class TlsForwardingProxy:
    """``with TlsForwardingProxy(certs, fake_host, fake_port) as proxy:`` — ``proxy.url`` for the client."""

    certificates: CertificateFiles
    target_host: str
    target_port: int
    #: ``host:port`` of every CONNECT received, in order
    tunnels: list[str] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TlsForwardingProxy:
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), name="tls-proxy", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the test proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        assert loop is not None and self._thread is not None
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)

    def _run(self, started: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        started.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                return
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await writer.start_tls(self.certificates.server_context())
            up_reader, upstream = await asyncio.open_connection(self.target_host, self.target_port)
            answers = asyncio.ensure_future(_pipe(up_reader, writer))
            try:
                await _forward_requests(reader, upstream)
            finally:
                await answers
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()


async def _forward_requests(reader: asyncio.StreamReader, upstream: asyncio.StreamWriter) -> None:
    """Each request of a keep-alive connection, its path rewritten for the fake, until the client closes."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            upstream.write_eof()
            return
        request_line, _, headers = head.partition(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        length = 0
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await reader.readexactly(length) if length else b""
        upstream.write(f"{method} {_fake_path(target)} {version}\r\n".encode("latin-1") + headers + body)
        await upstream.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
