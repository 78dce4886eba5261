"""The buckets of the /metrics duration and token histograms: the store sums rows into them (also the
rows retention drops, whose counts the histograms keep), and the exporter publishes them."""

from __future__ import annotations

__all__ = ["DURATION_BUCKETS", "TOKEN_BUCKETS"]

#: OpenTelemetry GenAI advice: 0.01 s doubling to 81.92 s, and 1 token ×4 up to 4^13.
DURATION_BUCKETS: tuple[float, ...] = tuple(round(0.01 * 2**i, 2) for i in range(14))
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))
