"""The monitor's server as an attacker sees it (issue 8): schemathesis over its OpenAPI schema, traversal on
``download_report``, auth bypass attempts with a token set, DNS-rebinding Host values and cross-site
writes, and oversized bodies and an alert flood against the server's memory. Each section starts the real
server (``ai-usage-monitor serve``) in its own process on 127.0.0.1 and prints what it tried and what got
through; every "got through" figure must be 0.

    python benchmarks/attack.py                       # every section, a few minutes
    python benchmarks/attack.py --only auth --only host
    python benchmarks/attack.py --examples 200        # more schemathesis cases per operation
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rawhttp import raw_request
from webserver import rss_mb, serve, serve_process, write_sample_records

TOKEN = "bench-Secret-token-0123456789"
DASHBOARD = "/api/ai_usage/dashboard"
EXPORT = "/api/ai_usage/export_report"
WEBHOOK = "/api/ai_usage/alerts/webhook"
DOWNLOAD = "/api/ai_usage/download_report?path="
SECRET = "TOP-SECRET-MARKER-7f3a"


# ---------------------------------------------------------------------------------------- schemathesis
def fuzz(base_url: str, examples: int, token: str | None) -> tuple[int, int, list[str]]:
    """Schemathesis cases (valid and invalid inputs) on every operation: cases sent, 5xx answers, examples."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.result import Err

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    cases = errors = 0
    examples_5xx: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the schema itself is broken for this operation
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def send(case: schemathesis.Case) -> None:
                nonlocal cases, errors
                answer = case.call(base_url=base_url, headers=headers, timeout=10)
                cases += 1
                if answer.status_code >= 500:
                    errors += 1
                    examples_5xx.append(f"{case.method} {case.formatted_path} -> {answer.status_code}")

            with contextlib.suppress(Unsatisfiable):  # no invalid input exists for a parameterless route
                send()
    return cases, errors, examples_5xx[:5]


def section_schemathesis(root: Path, examples: int) -> None:
    for label, token in (("no token", None), ("token set", TOKEN)):
        records = root / f"fuzz-{label.replace(' ', '-')}"
        write_sample_records(records)
        with serve(records, token=token) as url:
            cases, errors, shown = fuzz(url, examples, token)
        print(f"schemathesis ({label}): {cases} cases, {errors} answered 5xx {shown or ''}")


# ---------------------------------------------------------------------------------------- traversal
def _traversal_names(secret: Path, real: str) -> list[str]:
    """File names an attacker would try: escapes, absolute paths, planted links and FIFOs, odd bytes."""
    escapes = ["../secret.txt", "../../secret.txt", "../" * 12 + "etc/passwd", "..", ".", "", "/etc/passwd"]
    escapes += [str(secret), f"{real}/../../secret.txt", f"../reports/{real}", f"./{real}", f"{real}/"]
    escapes += [
        "..\\secret.txt",
        "..%5csecret.txt",
        "….json",
        "%2e%2e/secret.txt",
        "%252e%252e%252fsecret.txt",
    ]
    escapes += [
        "\uff0e\uff0e/secret.txt",
        "%c0%ae%c0%ae/secret.txt",
        "secret.txt",
        "~/.bashrc",
        "/proc/self/environ",
    ]
    escapes += [f"{real}\x00.txt", f"{real}%00", f"{real} ", f" {real}", f"{real}.", f"{real}::$DATA"]
    escapes += [
        real.upper(),
        real.replace("_", "%5f"),
        "a" * 300 + ".json",
        "usage_report_" + "9" * 400 + ".json",
    ]
    planted = [f"usage_report_2099010{i}_000000.json" for i in range(1, 5)]
    planted += ["usage_report_20990105_000000.csv", "secret.json", "usage_report_x.json"]
    return escapes + planted


def _plant(reports: Path, secret: Path) -> None:
    """Links, a FIFO and a directory under names shaped like reports, all pointing at the secret."""
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "usage_report_20990101_000000.json").symlink_to(secret)
    os.link(secret, reports / "usage_report_20990102_000000.json")
    os.mkfifo(reports / "usage_report_20990103_000000.json")
    (reports / "usage_report_20990104_000000.json").mkdir()
    (reports / "usage_report_20990105_000000.csv").symlink_to(reports.parent)
    (reports / "secret.json").write_text(SECRET)


def _encodings(name: str) -> list[str]:
    return sorted({name, quote(name, safe=""), quote(quote(name, safe=""), safe=""), quote(name, safe="/.")})


def section_traversal(root: Path) -> None:
    records = root / "traversal"
    write_sample_records(records)
    secret = root / "secret.txt"
    secret.write_text(SECRET)
    reports = records / "reports"
    with serve(records) as url:
        exported = raw_request(url, f"{EXPORT}?days=1", method="POST")
        real = json.loads(exported.body)["download_url"].rsplit("=", 1)[1]
        _plant(reports, secret)
        tried = leaked = hung = 0
        for name in _traversal_names(secret, real):
            for encoded in _encodings(name):
                for method in ("GET", "HEAD"):
                    answer = raw_request(url, DOWNLOAD + encoded, method=method, timeout=5)
                    tried += 1
                    hung += answer.status == 0
                    leaked += SECRET.encode() in answer.body or (
                        answer.status == 200 and unquote(encoded) != real
                    )
        still_works = raw_request(url, DOWNLOAD + real).status
    print(
        f"download_report traversal: {tried} variants tried, {leaked} leaked, {hung} hung "
        f"(the real report still downloads: {still_works})"
    )


# ---------------------------------------------------------------------------------------- auth
def _auth_headers() -> list[dict[str, str]]:
    wrong = [TOKEN[:-1], TOKEN + "x", TOKEN.upper(), TOKEN.lower(), TOKEN[1:], "", " ", "null", "undefined"]
    wrong += [TOKEN[:8], "*", "%s", TOKEN.replace("-", "_"), TOKEN + " x", "\t"]
    variants: list[dict[str, str]] = [{}]
    for value in wrong:
        for form in ("Bearer {}", "bearer {}", "BEARER {}", "Bearer  {}", "{}", "Basic {}", "Token {}"):
            variants.append({"Authorization": form.format(value)})
    variants += [
        {"X-API-Key": TOKEN},
        {"X-Api-Token": TOKEN},
        {"Cookie": f"token={TOKEN}"},
        {"Cookie": f"api_token={TOKEN}; Authorization=Bearer%20{TOKEN}"},
        {"Proxy-Authorization": f"Bearer {TOKEN}"},
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Original-URL": "/health"},
        {"X-Rewrite-URL": "/health"},
    ]
    return variants


_PATH_TRICKS = [
    "{p}",
    "/api/{rest}",
    "/api//{rest}",
    "//api/{rest}",
    "{p}/",
    "{p}//",
    "{p}/.",
    "{p}?token=" + TOKEN,
    "{p}?api_token=" + TOKEN,
    "{p}?access_token=" + TOKEN,
    "{p};x",
    "{p}%00",
    "{p}%20",
    "{p}#",
    "/api%2f{rest}",
    "/api%2F{rest}",
    "/API/{rest}",
    "/api/./{rest}",
    "/api/x/../{rest}",
    "/static/../api/{rest}",
    "/health/../api/{rest}",
    "/api/ai_usage/config/../{last}",
    "/api/ai_usage/%2e%2e/ai_usage/{last}",
    "http://127.0.0.1{p}",
]


def _protected_paths(url: str) -> list[str]:
    schema = json.loads(raw_request(url, "/openapi.json").body)
    paths = []
    for path in schema["paths"]:
        if path.startswith("/api/ai_usage/") and path != "/api/ai_usage/config":
            filled = path.replace("{session_id}", "s1")
            paths.append(filled + ("?path=usage_report_20251026_143022.json" if "download" in path else ""))
    return paths


def section_auth(root: Path) -> None:
    records = root / "auth"
    write_sample_records(records)
    tried = bypasses = 0
    seen: list[str] = []
    with serve(records, token=TOKEN) as url:
        paths = _protected_paths(url)
        for path in paths:
            rest = path.removeprefix("/api/")
            last = path.removeprefix("/api/ai_usage/")
            targets = {trick.format(p=path, rest=rest, last=last) for trick in _PATH_TRICKS}
            for target in sorted(targets):
                for method in ("GET", "HEAD", "OPTIONS", "POST", "TRACE"):
                    for headers in _auth_headers() if target == path else [{}]:
                        answer = raw_request(url, target, method=method, headers=headers)
                        tried += 1
                        if 200 <= answer.status < 300:
                            bypasses += 1
                            seen.append(f"{method} {target} {headers}")
        good = raw_request(url, DASHBOARD, headers={"Authorization": f"Bearer {TOKEN}"}).status
    print(
        f"auth with a token set: {tried} requests without the right token over {len(paths)} routes, "
        f"{bypasses} got through {seen[:3] or ''} (with the token: {good})"
    )


# ---------------------------------------------------------------------------------------- Host and CSRF
_REBINDING_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.nip.io:{port}",
    "localhost.evil.example",
    "127.0.0.1.evil.example",
    "7f000001.rbndr.us:{port}",
    "evil.example.",
    "EVIL.EXAMPLE",
    "evil.example:{port}@127.0.0.1",
    "xn--80ak6aa92e.com",
    "localhost:{port}.evil.example",
    "[::ffff:7f00:1].evil.example",
    "monitor",
    "internal-dashboard",
    "0.0.0.0.evil.example",
    "a" * 300,
]
_CROSS_SITE = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1.evil.example"},
    {"Origin": "http://127.0.0.1:1"},
    {"Origin": "http://localhost:{port}.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1:{port}"},
    {"Content-Type": "text/plain"},
    {"Content-Type": "application/x-www-form-urlencoded"},
    {"Content-Type": "multipart/form-data; boundary=x"},
    {"Content-Type": "text/plain; charset=utf-8", "Origin": "http://evil.example"},
    {"Content-Type": "TEXT/PLAIN"},
]
_READ_PATHS = [DASHBOARD, "/api/ai_usage/stats/current", "/api/ai_usage/alerts", "/metrics", "/health", "/"]


def section_host(root: Path) -> None:
    records = root / "host"
    write_sample_records(records)
    reports = records / "reports"
    with serve(records) as url:
        port = url.rsplit(":", 1)[1]
        host_tried = host_accepted = 0
        for host in _REBINDING_HOSTS:
            for path in _READ_PATHS:
                answer = raw_request(url, path, host=host.format(port=port))
                host_tried += 1
                host_accepted += answer.status != 400
        before = len(list(reports.iterdir())) if reports.exists() else 0
        csrf_tried = csrf_accepted = 0
        body = json.dumps({"status": "firing", "alerts": []}).encode()
        for headers in _CROSS_SITE:
            filled = {k: v.format(port=port) for k, v in headers.items()}
            for target in (f"{EXPORT}?days=1", WEBHOOK):
                for method in ("POST", "PUT", "DELETE"):
                    answer = raw_request(url, target, method=method, headers=filled, body=body)
                    csrf_tried += 1
                    csrf_accepted += 200 <= answer.status < 300
        written = (len(list(reports.iterdir())) if reports.exists() else 0) - before
        webhook = raw_request(
            url, WEBHOOK, method="POST", headers={"Content-Type": "application/json"}, body=body
        )
    print(f"Host check: {host_tried} rebinding-style requests, {host_accepted} answered")
    print(
        f"cross-site writes: {csrf_tried} tried, {csrf_accepted} accepted, {written} report files written "
        f"(Alertmanager-style webhook POST: {webhook.status})"
    )


# ---------------------------------------------------------------------------------------- bodies
def _post_streaming(base_url: str, target: str, total: int, chunked: bool) -> int:
    """POST ``total`` bytes in 1 MiB pieces, stopping as soon as the server answers; its status (0: none)."""
    parts = urlsplit(base_url)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
    piece = b"[" * (1 << 20)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                sent += len(piece)
        except OSError:
            pass  # closed by the server after its answer
        try:
            status = sock.recv(64).split(b" ", 2)[1]
        except (OSError, IndexError):
            return 0
    return int(status)


def _alert_body(i: int, size: int) -> dict[str, object]:
    alert = {
        "status": "firing",
        "labels": {"alertname": f"Flood{i}", "severity": "critical"},
        "annotations": {"description": "x" * size},
        "startsAt": "2025-10-26T06:00:00Z",
        "fingerprint": f"fp-{i}",
    }
    return {"status": "firing", "receiver": "flood", "alerts": [alert]}


def section_bodies(root: Path) -> None:
    records = root / "bodies"
    write_sample_records(records)
    size = 20 << 20
    with serve_process(records) as (url, pid):
        before = rss_mb(pid)
        statuses = [
            _post_streaming(url, WEBHOOK, size, chunked) for chunked in (False, True) for _ in range(10)
        ]
        after_big = rss_mb(pid)
        with httpx.Client(base_url=url, timeout=30) as http:
            stored = [http.post(WEBHOOK, json=_alert_body(i, 1_000_000)).status_code for i in range(250)]
            kept = http.get("/api/ai_usage/alerts", params={"limit": 200}).json()
        after_flood = rss_mb(pid)
    refused = sum(status == 413 for status in statuses)
    print(
        f"oversized bodies: 20 posts of 20 MiB (10 with Content-Length, 10 chunked), {refused} refused "
        f"with 413; server memory {before:.0f} -> {after_big:.0f} MiB"
    )
    longest = max(len(a["annotations"].get("description", "")) for a in kept["alerts"])
    print(
        f"alert flood: 250 notifications of ~1 MB, {stored.count(200)} accepted, {kept['count']} listed "
        f"(longest text kept {longest} chars); server memory {after_big:.0f} -> {after_flood:.0f} MiB"
    )


SECTIONS: dict[str, Callable[[Path, argparse.Namespace], None]] = {
    "schemathesis": lambda root, args: section_schemathesis(root, args.examples),
    "traversal": lambda root, _args: section_traversal(root),
    "auth": lambda root, _args: section_auth(root),
    "host": lambda root, _args: section_host(root),
    "bodies": lambda root, _args: section_bodies(root),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only these sections")
    parser.add_argument("--examples", type=int, default=25, help="schemathesis cases per operation and mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ai-usage-attack-") as tmp:
        for name in args.only or list(SECTIONS):
            SECTIONS[name](Path(tmp), args)


if __name__ == "__main__":
    main()
