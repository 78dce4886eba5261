"""One app's or one machine's figures: ``get_usage_monitor(service=…, host=…)`` and ``report --service``,
on records of two services on two hosts that a test wrote."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from ai_usage_monitor import get_usage_monitor
from ai_usage_monitor.cli import app
from ai_usage_monitor.records import UsageRecord
from tests.support.records import write_records

TZ = "Asia/Shanghai"
SERVICES = ("直播助手", "batch-jobs")
HOSTS = ("web-1", "web-2")


@pytest.fixture
def records(tmp_path: Path) -> tuple[Path, list[UsageRecord]]:
    rng = random.Random(7)
    now = time.time()
    made = [
        UsageRecord(
            timestamp=now - rng.uniform(0, 3 * 86_400),
            service=rng.choice(SERVICES),
            host=rng.choice(HOSTS),
            user_id=f"user-{rng.randrange(5)}",
            model=rng.choice(("qwen-plus", "qwen-max")),
            function="实时分析",
            session_id=f"s{rng.randrange(3)}",
            input_tokens=rng.randrange(10, 500),
            output_tokens=rng.randrange(10, 500),
            cost=round(rng.uniform(0.001, 0.1), 6),
            priced=True,
        )
        for _ in range(300)
    ]
    write_records(tmp_path / "records", made, ZoneInfo(TZ))
    return tmp_path / "records", made


def test_a_monitor_of_one_service_or_host_counts_only_its_calls(
    records: tuple[Path, list[UsageRecord]],
) -> None:
    folder, made = records
    whole = get_usage_monitor(records_dir=folder, timezone=TZ)
    for service in SERVICES:
        mine = [r for r in made if r.service == service]
        monitor = get_usage_monitor(records_dir=folder, timezone=TZ, service=service)
        trend = monitor.get_cost_trend(days=7)
        assert sum(day["calls"] for day in trend) == len(mine)
        assert sum(day["cost"] for day in trend) == pytest.approx(sum(r.cost for r in mine))
        users = {row["user_id"]: row["calls"] for row in monitor.get_top_users(days=7)}
        assert users == {u: sum(r.user_id == u for r in mine) for u in {r.user_id for r in mine}}
        session = monitor.get_session_stats("s1")
        assert session["calls"] == sum(r.session_id == "s1" for r in mine)
    both = get_usage_monitor(records_dir=folder, timezone=TZ, service=SERVICES[0], host=HOSTS[1])
    expected = [r for r in made if (r.service, r.host) == (SERVICES[0], HOSTS[1])]
    assert sum(day["calls"] for day in both.get_cost_trend(days=7)) == len(expected)
    assert sum(day["calls"] for day in whole.get_cost_trend(days=7)) == len(made)


def test_report_of_one_service(records: tuple[Path, list[UsageRecord]]) -> None:
    folder, made = records
    result = CliRunner().invoke(
        app,
        ["report", "--days", "7", "--format", "json", "--records-dir", str(folder), "--service", SERVICES[0]],
        env={"AI_USAGE_TIMEZONE": TZ},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    mine = [r for r in made if r.service == SERVICES[0]]
    assert report["filters"] == {"service": SERVICES[0]}
    assert report["totals"]["calls"] == len(mine)
    assert report["totals"]["cost"] == pytest.approx(sum(r.cost for r in mine))
    assert sum(row["calls"] for row in report["by_user"]) == len(mine)
    assert sum(day["calls"] for day in report["daily"]) == len(mine)
