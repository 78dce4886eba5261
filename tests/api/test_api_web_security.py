"""The real server under uvicorn against hostile web traffic: oversized and endless chunked bodies, foreign
Host values (DNS rebinding), cross-site writes (CSRF), and the security headers on every answer."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ai_usage_monitor.api.routes.alerts import (
    MAX_ALERT_LABELS,
    MAX_ALERT_TEXT,
    AlertLog,
    WebhookPayload,
)
from ai_usage_monitor.config import Settings
from tests.api.conftest import boundary_records, settings_for
from tests.api.helpers import SHANGHAI, settle_clock
from tests.support.records import write_records
from tests.support.servers import serve_monitor

WEBHOOK = "/api/ai_usage/alerts/webhook"
EXPORT = "/api/ai_usage/export_report"
BODY_LIMIT = 64 * 1024


def _alert(name: str, description: str = "what to do", **labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "severity": "critical", **labels},
        "annotations": {"summary": f"{name} summary", "description": description},
        "startsAt": "2025-10-26T06:00:00Z",
        "fingerprint": f"fp-{name}",
    }


def _payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"status": "firing", "receiver": "ai-usage-monitor", "alerts": list(alerts)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    root = tmp_path_factory.mktemp("websec")
    settings = settings_for(
        root, max_body_bytes=BODY_LIMIT, allowed_hosts=["monitor", ".corp.example"], host="127.0.0.1"
    )
    write_records(settings.records_dir, boundary_records(settle_clock()), SHANGHAI)
    with serve_monitor(settings) as url:
        yield url, settings


@pytest.fixture
def client(server: tuple[str, Settings]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=10) as http:
        yield http


def _raw_request(url: str, head: str, body_parts: list[bytes], timeout: float = 5.0) -> bytes:
    """Send ``head`` and the body parts over a plain socket, never finishing the body; the answer read."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        try:
            for part in body_parts:
                sock.sendall(part)
        except OSError:
            pass  # the server may close as soon as it has answered
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


# ------------------------------------------------------------------ body size
def test_a_declared_oversized_body_is_refused_with_413(client: httpx.Client) -> None:
    body = json.dumps(_payload(_alert("Big", "x" * (2 * BODY_LIMIT))))
    answer = client.post(WEBHOOK, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert str(BODY_LIMIT) in answer.json()["detail"]
    assert "AI_USAGE_MAX_BODY_BYTES" in answer.json()["detail"]


def test_a_chunked_body_is_cut_off_at_the_limit_without_waiting_for_its_end(
    server: tuple[str, Settings],
) -> None:
    """A chunked body with no Content-Length that never ends: the server must answer 413 once the limit is
    passed, not keep buffering until the (never coming) last chunk."""
    url = server[0]
    head = (
        f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 16384
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n"] * (BODY_LIMIT // len(piece) + 4)
    answer = _raw_request(url, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_bodies_under_the_limit_still_work(client: httpx.Client) -> None:
    answer = client.post(WEBHOOK, json=_payload(_alert("Small")))
    assert answer.status_code == 200
    assert answer.json()["received"] == 1


def test_the_alert_list_keeps_bounded_texts(client: httpx.Client) -> None:
    long_text = "说明" * (BODY_LIMIT // 8)
    many_labels = {f"l{i:03d}": "v" for i in range(MAX_ALERT_LABELS * 2)}
    fingerprint = "f" * (MAX_ALERT_TEXT * 4)
    alert = {**_alert("Huge", long_text, **many_labels), "fingerprint": fingerprint}
    assert client.post(WEBHOOK, json=_payload(alert)).status_code == 200
    kept = next(a for a in client.get("/api/ai_usage/alerts").json()["alerts"] if a["alertname"] == "Huge")
    assert len(kept["annotations"]["description"]) <= MAX_ALERT_TEXT
    assert kept["annotations"]["description"].startswith("说明说明")
    assert len(kept["labels"]) <= MAX_ALERT_LABELS
    assert kept["labels"]["alertname"] == "Huge"
    assert len(kept["fingerprint"]) <= MAX_ALERT_TEXT


def test_the_alert_log_stays_within_its_character_budget() -> None:
    log = AlertLog(maxlen=1000, max_chars=50_000)
    for i in range(200):
        log.add(WebhookPayload.model_validate(_payload(_alert(f"A{i}", "d" * 1500))))
        assert log.chars <= 50_000
    kept = log.recent()
    assert kept[0].alertname == "A199"  # the newest are the ones kept
    assert 10 < len(kept) < 200


# ------------------------------------------------------------------ Host check
@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:10090",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "corp.example",
        "localhost:80.evil.example",
        "127.0.0.1:1@evil.example",
        "[::1].evil.example",
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/ai_usage/dashboard", "/static/ai_usage_monitor.html", "/metrics", "/health", "/docs"]
)
def test_foreign_hosts_are_refused(client: httpx.Client, host: str, path: str) -> None:
    answer = client.get(path, headers={"host": host})
    assert answer.status_code == 400
    assert "AI_USAGE_ALLOWED_HOSTS" in answer.json()["detail"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]", "monitor", "a.corp.example", "b.a.corp.example"]
)
def test_loopback_and_configured_hosts_are_answered(client: httpx.Client, host: str) -> None:
    port = urlsplit(str(client.base_url)).port
    for value in (host, f"{host}:{port}"):
        assert client.get("/api/ai_usage/dashboard", headers={"host": value}).status_code == 200


def test_star_allows_any_host(tmp_path: Path) -> None:
    with serve_monitor(settings_for(tmp_path, allowed_hosts="*")) as url:
        assert httpx.get(f"{url}/health", headers={"host": "anything.example"}).status_code == 200


def test_allowed_hosts_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_USAGE_ALLOWED_HOSTS", "monitor, grafana.lan ,")
    assert Settings().allowed_hosts == ["monitor", "grafana.lan"]


# ------------------------------------------------------------------ cross-site writes
def _reports(settings: Settings) -> list[str]:
    folder = settings.reports_path
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://localhost.evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "multipart/form-data; boundary=x"},
    ],
)
def test_cross_site_writes_are_refused(
    client: httpx.Client, server: tuple[str, Settings], headers: dict[str, str]
) -> None:
    before = _reports(server[1])
    answer = client.post(EXPORT, params={"days": 1}, headers=headers, content=b"a=b")
    assert answer.status_code == 403
    assert "cross-site" in answer.json()["detail"]
    assert _reports(server[1]) == before
    webhook = client.post(WEBHOOK, headers=headers, content=json.dumps(_payload(_alert("Forged"))))
    assert webhook.status_code == 403


def test_same_origin_and_server_to_server_writes_work(
    client: httpx.Client, server: tuple[str, Settings]
) -> None:
    origin = str(client.base_url).rstrip("/")
    same = client.post(
        EXPORT, params={"days": 1}, headers={"origin": origin, "sec-fetch-site": "same-origin"}
    )
    assert same.status_code == 200
    assert same.json()["report_path"].endswith(tuple(_reports(server[1])))
    # Alertmanager: JSON, no Origin, no Sec-Fetch-* headers
    hook = client.post(WEBHOOK, json=_payload(_alert("FromAlertmanager")))
    assert hook.status_code == 200


# ------------------------------------------------------------------ headers, paths
@pytest.mark.parametrize(
    "path", ["/static/ai_usage_monitor.html", "/api/ai_usage/dashboard", "/metrics", "/health", "/nowhere"]
)
def test_security_headers_on_every_answer(client: httpx.Client, path: str) -> None:
    answer = client.get(path)
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_health_does_not_show_absolute_paths(client: httpx.Client, server: tuple[str, Settings]) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    index_path = answer.json()["index_path"]
    assert not Path(index_path).is_absolute()
    assert index_path.startswith("…/")
    assert (server[1].index_path / index_path.removeprefix("…/")).exists()
    assert str(server[1].records_dir.parent) not in answer.text
