"""Records another process dropped show on the real server: ``/health``'s ``records_dropped``, the
``ai_usage_records_dropped_total`` counter (which keeps its value when a ledger is deleted) and the
dashboard's answer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import settings_for
from tests.support.servers import serve_monitor

REPO = Path(__file__).resolve().parents[2]

#: 2 records written, 3 refused (bad numbers), then 2 refused by the kernel (a file size limit, EFBIG)
WRITER = textwrap.dedent(
    """
    import math, resource, signal
    from pathlib import Path
    from ai_usage_monitor import record_ai_usage
    for _ in range(2):
        record_ai_usage(model="qwen-plus", input_tokens=10, output_tokens=2)
    for _ in range(3):
        record_ai_usage(model="qwen-plus", input_tokens=10, output_tokens=2, duration_ms=math.nan)
    [path] = Path(__import__("os").environ["AI_USAGE_RECORDS_DIR"]).glob("usage_*.jsonl")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, resource.RLIM_INFINITY))
    for _ in range(2):
        record_ai_usage(model="qwen-plus", input_tokens=10, output_tokens=2)
    """
)


def _dropped_counter(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "ai_usage_records_dropped"]
    return {s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total")}


def test_drops_of_another_process_show_in_health_metrics_and_dashboard(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    settings.records_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_USAGE_")}
    env.update(AI_USAGE_RECORDS_DIR=str(settings.records_dir), PYTHONPATH=str(REPO))
    with serve_monitor(settings) as url, httpx.Client(base_url=url) as client:
        assert client.get("/health").json()["records_dropped"]["total"] == 0
        assert _dropped_counter(client) == {"write_failed": 0.0, "invalid": 0.0}
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-c", WRITER], env=env, check=False, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr

        dropped = client.get("/health").json()["records_dropped"]
        assert dropped["total"] == 5
        assert dropped["by_reason"] == {"write_failed": 2, "invalid": 3}
        assert dropped["processes"] == 1
        assert started <= dropped["last_at"] <= time.time()
        assert "File too large" in dropped["last_error"]
        assert _dropped_counter(client) == {"write_failed": 2.0, "invalid": 3.0}
        assert client.get("/api/ai_usage/dashboard").json()["records_dropped"]["total"] == 5

        for ledger in (settings.records_dir / ".drops").glob("*.json"):
            ledger.unlink()  # an operator clears the ledgers: /health starts again, the counter does not
        assert client.get("/health").json()["records_dropped"]["total"] == 0
        assert _dropped_counter(client) == {"write_failed": 2.0, "invalid": 3.0}
