"""A real Prometheus server for tests: start it with a generated config (and rules), wait until it is
ready, query it, stop it. Debian's ``prometheus`` binary, storage in a temporary folder, 127.0.0.1 only.

    with PrometheusServer.start(tmp_path, scrape_configs=[scrape_job("monitor", "127.0.0.1:8000")]) as prom:
        prom.wait_for_target_up("monitor")
        value = prom.query_value("sum(ai_usage_cost_total)")
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from tests.support.processes import ServerProcess

__all__ = ["PrometheusError", "PrometheusServer", "prometheus_binary", "scrape_job"]

Vector = list[dict[str, Any]]


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a query with an error."""


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise PrometheusError("the prometheus binary is not installed (Debian package 'prometheus')")
    return path


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


class PrometheusServer(ServerProcess):
    """A running Prometheus process; use :meth:`start`, then as a context manager or call :meth:`stop`."""

    name: ClassVar[str] = "prometheus"
    error: ClassVar[type[Exception]] = PrometheusError

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
        return cls.launch(
            workdir,
            lambda port: [
                prometheus_binary(),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                *extra_args,
            ],
            client_timeout=10.0,
            ready_timeout=ready_timeout,
        )

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
