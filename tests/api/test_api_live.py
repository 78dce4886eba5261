"""The real server under uvicorn: records another process appends show up within a second, no restart;
a corrupt line and a torn last line are skipped, counted in ``/health``, and nothing else is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import make_record, settings_for
from tests.api.helpers import SHANGHAI, aggregate, day_window, settle_clock
from tests.support.records import write_records
from tests.support.servers import serve_monitor

WRITER = textwrap.dedent(
    """
    import json, sys
    from ai_usage_monitor import record_ai_usage
    written = [
        record_ai_usage(model="qwen-plus", function="实时分析", input_tokens=1200 + i, output_tokens=345,
                        duration_ms=321.0, user_id="second-process", anchor_id="anchor_123")
        for i in range(int(sys.argv[1]))
    ]
    print(json.dumps([[r.cost, r.total_tokens] for r in written]))
    """
)


def _current(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/api/ai_usage/stats/current")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def test_records_from_another_process_appear_within_a_second(tmp_path: Path) -> None:
    settle_clock(margin=20.0)
    settings = settings_for(tmp_path, tail_interval=0.25)  # the default pace, not a test-only one
    write_records(settings.records_dir, [make_record(time.time() - 5)], SHANGHAI)
    env = {
        **os.environ,
        "AI_USAGE_RECORDS_DIR": str(settings.records_dir),
        "AI_USAGE_TIMEZONE": "Asia/Shanghai",
    }
    with serve_monitor(settings) as url, httpx.Client(base_url=url) as client:
        before = _current(client)
        assert before["today"]["calls"] == 1
        for batch in (3, 1):
            done = subprocess.run(
                [sys.executable, "-c", WRITER, str(batch)],
                env=env,
                capture_output=True,
                check=True,
                text=True,
            )
            written_at = time.monotonic()
            costs_tokens = json.loads(done.stdout)
            want_calls = before["today"]["calls"] + batch
            want_cost = before["today"]["cost"] + sum(c for c, _ in costs_tokens)
            want_tokens = before["today"]["tokens"] + sum(t for _, t in costs_tokens)
            while True:
                now = _current(client)
                # the hour and the day are two queries: a batch may land between them, so wait for both
                if now["today"]["calls"] == now["current_hour"]["calls"] == want_calls:
                    break
                assert time.monotonic() - written_at < 1.0, f"not visible after 1 s: {now['today']}"
                time.sleep(0.02)
            assert time.monotonic() - written_at < 1.0
            assert now["today"]["cost"] == pytest.approx(want_cost)
            assert now["today"]["tokens"] == want_tokens
            assert now["today"]["by_function"]["实时分析"]["calls"] == want_calls
            before = now


def test_corrupt_and_torn_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    now = settle_clock(margin=20.0)
    settings = settings_for(tmp_path)
    good = [make_record(now.timestamp() - 60, cost=0.25), make_record(now.timestamp() - 30, cost=0.5)]
    late = make_record(now.timestamp() - 10, cost=1.0)
    torn_line = late.to_json_line()
    day = now.date().isoformat()
    path = settings.records_dir / f"usage_{day}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        good[0].to_json_line()
        + b'{"timestamp": 17300, "model": "qwen-plus", "cost": 0.1 this is not JSON\n'
        + good[1].to_json_line()
        + torn_line[:40]
    )
    with serve_monitor(settings) as url, httpx.Client(base_url=url) as client:
        health = client.get("/health").json()
        assert health["records_indexed"] == 2
        assert health["corrupt_lines"] == 1
        assert health["pending_partial_lines"] == 1
        today = client.get("/api/ai_usage/stats/daily").json()
        expected = aggregate(good, day_window(now.date()))
        assert today["total_calls"] == 2
        assert today["total_cost"] == pytest.approx(expected["cost"])
        metrics = client.get("/metrics").text
        assert "ai_usage_store_corrupt_lines_total 1.0" in metrics
        assert "ai_usage_store_records_indexed 2.0" in metrics

        # the writer finishes its line: the record is indexed, nothing waits any more
        with path.open("ab") as out:
            out.write(torn_line[40:])
        deadline = time.monotonic() + 1.0
        while client.get("/health").json()["records_indexed"] != 3:
            assert time.monotonic() < deadline, client.get("/health").json()
            time.sleep(0.02)
        health = client.get("/health").json()
        assert (health["corrupt_lines"], health["pending_partial_lines"]) == (1, 0)
        assert client.get("/api/ai_usage/stats/daily").json()["total_cost"] == pytest.approx(1.75)


def test_health_answers_on_an_empty_folder(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with serve_monitor(settings) as url, httpx.Client(base_url=url) as client:
        answer = client.get("/health")
        assert answer.status_code == 200
        body = answer.json()
        assert (body["records_indexed"], body["corrupt_lines"], body["pending_partial_lines"]) == (0, 0, 0)
        assert client.get("/api/ai_usage/stats/current").json()["today"]["calls"] == 0
        assert client.get("/api/ai_usage/stats/current").json()["current_hour"]["success_rate"] == 100.0


def test_shanghai_day_files_are_named_by_local_date(tmp_path: Path) -> None:
    """Sanity check of the test writer: a record at 23:30 UTC lands in the next Shanghai day's file."""
    from datetime import datetime

    ts = datetime(2025, 10, 26, 23, 30, tzinfo=UTC).timestamp()
    write_records(tmp_path, [make_record(ts)], SHANGHAI)
    assert [p.name for p in tmp_path.iterdir()] == ["usage_2025-10-27.jsonl"]
