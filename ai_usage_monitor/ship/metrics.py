"""The shipper's own Prometheus ``/metrics``: lag (bytes, seconds) measured at scrape time from the files and
the committed offsets, and this run's counters."""

from __future__ import annotations

from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.ship.lag import measure_lag
from ai_usage_monitor.ship.shipper import Shipper

__all__ = ["ShipCollector", "serve_metrics"]


class ShipCollector(Collector):
    """The ``ai_usage_ship_*`` families of one running shipper."""

    def __init__(self, shipper: Shipper) -> None:
        self.shipper = shipper

    def collect(self) -> Iterator[Metric]:
        shipper = self.shipper
        stats = shipper.stats
        try:
            lag = measure_lag(shipper.records_dir, dict(shipper.state.files))
        except OSError as exc:
            handle_internal_error("ship.metrics", exc)
        else:
            yield GaugeMetricFamily(
                "ai_usage_ship_lag_bytes", "Bytes of record files not shipped yet.", value=lag.bytes
            )
            yield GaugeMetricFamily(
                "ai_usage_ship_lag_seconds",
                "Age of the oldest record not shipped yet (0 when all are).",
                value=lag.seconds,
            )
        counters = (
            ("ai_usage_ship_records", "Records shipped (acknowledged) by this run.", stats.records),
            ("ai_usage_ship_batches", "Batches shipped by this run.", stats.batches),
            ("ai_usage_ship_failures", "Failed insert attempts of this run.", stats.failures),
            ("ai_usage_ship_corrupt_lines", "Corrupt record lines skipped by this run.", stats.corrupt_lines),
        )
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value=value)
        if stats.last_success is not None:
            yield GaugeMetricFamily(
                "ai_usage_ship_last_success_timestamp_seconds",
                "When a batch was last acknowledged (Unix seconds).",
                value=stats.last_success,
            )


def serve_metrics(shipper: Shipper, host: str, port: int) -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; ``shutdown()`` the server to stop it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ShipCollector(shipper))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
