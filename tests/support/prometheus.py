"""A real Prometheus server for tests: start it with a generated config (and rules), wait until it is
ready, query it, stop it. Debian's ``prometheus`` binary, storage in a temporary folder, 127.0.0.1 only.

    with PrometheusServer.start(tmp_path, scrape_configs=[scrape_job("monitor", "127.0.0.1:8000")]) as prom:
        prom.wait_for_target_up("monitor")
        value = prom.query_value("sum(ai_usage_cost_total)")
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = ["PrometheusError", "PrometheusServer", "free_port", "prometheus_binary", "scrape_job"]

Vector = list[dict[str, Any]]


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a query with an error."""


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise PrometheusError("the prometheus binary is not installed (Debian package 'prometheus')")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (a server that cannot take a socket must be given a number)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape_job(
    name: str,
    target: str,
    *,
    metrics_path: str = "/metrics",
    interval: str = "1s",
    bearer_token: str | None = None,
) -> dict[str, Any]:
    """One ``scrape_configs`` entry for ``target`` (``host:port``)."""
    job: dict[str, Any] = {
        "job_name": name,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "metrics_path": metrics_path,
        "static_configs": [{"targets": [target]}],
    }
    if bearer_token is not None:
        job["authorization"] = {"type": "Bearer", "credentials": bearer_token}
    return job


@dataclass
class PrometheusServer:
    """A running Prometheus process; use :meth:`start`, then as a context manager or call :meth:`stop`."""

    workdir: Path
    port: int
    process: subprocess.Popen[bytes]
    client: httpx.Client = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        rules: Mapping[str, Mapping[str, Any] | str] | None = None,
        alertmanagers: Sequence[str] = (),
        interval: str = "1s",
        extra_args: Sequence[str] = (),
        ready_timeout: float = 30.0,
    ) -> PrometheusServer:
        """Write ``prometheus.yml`` (and one file per entry of ``rules``: a dict or YAML text) into
        ``workdir``, start Prometheus on a free port and wait until it is ready.

        ``alertmanagers``: ``host:port`` of Alertmanagers to send alerts to.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        rule_files = []
        for name, content in (rules or {}).items():
            path = workdir / name
            path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
            rule_files.append(str(path))
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [dict(job) for job in scrape_configs],
            "rule_files": rule_files,
        }
        if alertmanagers:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
        config_path = workdir / "prometheus.yml"
        # JSON is YAML: no YAML library needed.
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        last_error: PrometheusError | None = None
        for _attempt in range(3):  # the free port may be taken between the probe and Prometheus' bind
            server = cls._launch(workdir, config_path, extra_args)
            try:
                server.wait_ready(ready_timeout)
            except PrometheusError as exc:
                server.stop()
                last_error = exc
                continue
            return server
        raise last_error or PrometheusError("prometheus did not start")

    @classmethod
    def _launch(cls, workdir: Path, config_path: Path, extra_args: Sequence[str]) -> PrometheusServer:
        port = free_port()
        log = (workdir / "prometheus.log").open("ab")
        process = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return cls(workdir, port, process, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0))

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "prometheus.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus not ready after {timeout} s:\n{self.log_tail()}")

    def _api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        answer = self.client.get(f"/api/v1/{path}", params=params)
        body = answer.json()
        if answer.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {answer.status_code} {body}")
        return body["data"]

    def query(self, promql: str) -> Vector:
        """An instant query; returns the result list (``[{"metric": {...}, "value": [ts, "v"]}, ...]``)."""
        data = self._api("query", {"query": promql})
        result: Vector = data["result"]
        return result

    def query_range(self, promql: str, seconds: float = 60.0, step: str = "1") -> Vector:
        """A range query over the last ``seconds``: ``[{"metric": {...}, "values": [[ts, "v"], ...]}]``."""
        end = time.time()
        data = self._api(
            "query_range", {"query": promql, "start": str(end - seconds), "end": str(end), "step": step}
        )
        result: Vector = data["result"]
        return result

    def query_value(self, promql: str) -> float | None:
        """The single value of an instant query, or ``None`` when the result is empty."""
        result = self.query(promql)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{promql!r} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def wait_for(
        self, promql: str, predicate: Callable[[Vector], bool] = bool, timeout: float = 20.0
    ) -> Vector:
        """Poll ``promql`` until ``predicate(result)`` holds; returns that result."""
        deadline = time.monotonic() + timeout
        result: Vector = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if predicate(result):
                return result
            time.sleep(0.2)
        raise PrometheusError(f"{promql!r} did not reach the expected state in {timeout} s; last: {result}")

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self._api("targets")["activeTargets"]
        return active

    def wait_for_target_up(self, job: str, timeout: float = 20.0) -> None:
        """Wait until every target of ``job`` was scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen = [t for t in self.targets() if t["labels"].get("job") == job]
            if seen and all(t["health"] == "up" for t in seen):
                return
            time.sleep(0.2)
        raise PrometheusError(f"job {job!r} not up after {timeout} s: {seen}")

    def rules(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self._api("rules")["groups"]
        return groups

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self._api("alerts")["alerts"]
        return alerts

    def reload(self) -> None:
        """Re-read the config and rule files (after rewriting them in ``workdir``)."""
        answer = self.client.post("/-/reload")
        if answer.status_code != 200:
            raise PrometheusError(f"reload failed: {answer.status_code} {answer.text}")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
