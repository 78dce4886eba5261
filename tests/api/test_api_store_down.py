"""ClickHouse stops while ``serve`` runs: every route and ``/metrics`` answer 503 with a JSON ``detail``
naming the store (no password), ``/health`` says it is unreachable, the log holds the outage once and no
traceback; when the server is back, the routes answer again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from ai_usage_monitor.testing.processes import free_port, stop_process
from tests.ship.helpers import recent_records, wait_until, write_with_exporter
from tests.ship.test_ship_outage import _restart
from tests.support.clickhouse import load_jsonl, start_clickhouse

_CLI = "from ai_usage_monitor.cli import main; main()"
ROUTES = ("/api/ai_usage/stats/current", "/api/ai_usage/stats/daily", "/metrics")


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_store_down_answers_503(tmp_path: Path) -> None:
    server = start_clickhouse(tmp_path / "clickhouse")
    processes = [server.process]
    url = server.url("down")
    records_dir = tmp_path / "records"
    write_with_exporter(records_dir, recent_records(50, seed=71, days=0.01))
    load_jsonl(url, records_dir)
    port, log = free_port(), tmp_path / "serve.log"
    command = [sys.executable, "-c", _CLI, "serve", "--store", url, "--port", str(port)]
    command += ["--records-dir", str(records_dir)]
    env = {**os.environ, "AI_USAGE_API_TOKEN": ""}
    with log.open("ab") as out:
        serve = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), what="serve up")
        assert all(httpx.get(base + route, timeout=5).status_code == 200 for route in ROUTES)
        stop_process(server.process)
        for _ in range(2):
            for route in ROUTES:
                response = httpx.get(base + route, timeout=10)
                assert response.status_code == 503, route
                detail = response.json()["detail"]
                assert f"127.0.0.1:{server.tcp_port}/down" in detail and "unreachable" in detail
                assert server.password not in detail
        health = httpx.get(f"{base}/health", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "unreachable"

        processes.append(_restart(server))
        wait_until(lambda: httpx.get(base + ROUTES[0], timeout=10).status_code == 200, what="store back")
    finally:
        stop_process(serve)
        for process in processes:
            stop_process(process)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text and server.password not in text
    assert text.count("is unreachable") == 1 and text.count("works again") == 1
