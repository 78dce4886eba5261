"""A fixed set of records around the hour, day and month boundaries of Asia/Shanghai, from two services
(and one record written before records named theirs), and the real app over them (through its lifespan, so
the store is opened, indexed and tailed as in production) — once on the local DuckDB index and once on a
real ClickHouse server the same JSONL was loaded into."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_usage_monitor.api import create_app
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.api.helpers import SHANGHAI, local_client, settle_clock
from tests.support.clickhouse import ClickHouseServer, load_jsonl
from tests.support.records import write_records

_ids = itertools.count()


def make_record(ts: float, **fields: Any) -> UsageRecord:
    """A priced DashScope chat record of ``live-api`` on ``pod-1``; ``fields`` override, tokens add up."""
    values: dict[str, Any] = {
        "provider": "dashscope",
        "model": "qwen-plus",
        "function": "实时分析",
        "user_id": "user_001",
        "anchor_id": "anchor_123",
        "session_id": "session_456",
        "input_tokens": 1000,
        "output_tokens": 300,
        "cost": 0.0014,
        "duration_ms": 800.0,
        "priced": True,
        "source": "dashscope",
        "record_id": f"test-{next(_ids)}",
        "service": "live-api",
        "host": "pod-1",
        "tags": {"team": "直播"},
    }
    values.update(fields)
    if values.get("total_tokens") is None and values["input_tokens"] is not None:
        values["total_tokens"] = values["input_tokens"] + (values["output_tokens"] or 0)
    return UsageRecord(timestamp=ts, **values)


def boundary_records(now: datetime) -> list[UsageRecord]:
    """Records on both sides of the current hour, today, 7 and 30 days ago, and September 2025."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def day_start(days_ago: int) -> float:
        day = (now - timedelta(days=days_ago)).date()
        return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).timestamp()

    in_hour = (hour.timestamp() + now.timestamp()) / 2
    return [
        # the current clock hour: its first instant, and one more call, failed, in 话术生成
        make_record(hour.timestamp(), cost=0.0030, input_tokens=2000, output_tokens=700, duration_ms=1234.5),
        make_record(
            in_hour,
            model="qwen-max",
            function="话术生成",
            user_id="user_002",
            anchor_id="anchor_999",
            success=False,
            error_msg="Throttling.RateQuota",
            error_type="Throttling",
            input_tokens=120,
            output_tokens=0,
            cost=0.000288,
            duration_ms=95.0,
            service="batch-worker",
            host="pod-2",
            tags={"team": "ops", "env": "prod"},
        ),
        # the last instant of the previous hour
        make_record(
            hour.timestamp() - 0.001, cost=0.00002, input_tokens=20, output_tokens=2, duration_ms=50.0
        ),
        # today's first instant (the same as the hour's when it is just past midnight) and yesterday's last
        make_record(
            midnight.timestamp(),
            user_id="user_003",
            cost=0.5,
            input_tokens=50_000,
            output_tokens=9_000,
            service="batch-worker",
            tags={"team": "ops", "env": "staging"},
        ),
        make_record(midnight.timestamp() - 0.001, user_id="user_003", model="qwen-turbo", cost=0.25),
        # OpenAI with cached and reasoning tokens, 3 days ago
        make_record(
            day_start(3) + 12 * 3600,
            provider="openai",
            model="gpt-4o-mini",
            function="摘要",
            user_id="user_004",
            anchor_id=None,
            session_id="session_789",
            input_tokens=4000,
            output_tokens=1500,
            cached_tokens=1024,
            reasoning_tokens=256,
            cost=0.012,
            duration_ms=2100.0,
            source="openai",
            service="batch-worker",
            host="pod-2",
            tags={"team": "search:v2", "env": "prod"},
        ),
        # an unpriced model (in a record written before records named their service and host) and a
        # stream that carried no usage
        make_record(
            day_start(2) + 3600,
            model="mystery-model",
            user_id="user_005",
            priced=False,
            cost=0.0,
            input_tokens=700,
            output_tokens=70,
            service=None,
            host=None,
            tags={},
        ),
        make_record(
            day_start(1) + 7200,
            model="qwen-plus",
            user_id="user_005",
            input_tokens=None,
            output_tokens=None,
            total_tokens=None,
            priced=False,
            cost=0.0,
            usage_missing=True,
            stream=True,
        ),
        # the first instant of the 7-day window, and the last one before it
        make_record(day_start(6), user_id="user_006", cost=0.07, anchor_id="anchor_777"),
        make_record(day_start(6) - 0.001, user_id="user_006", cost=0.06, anchor_id="anchor_777"),
        # outside 30 days
        make_record(day_start(40) + 600, user_id="user_007", cost=9.0, function=None, session_id=None),
        # September 2025 in Shanghai: 08-31 23:59:59.999 | 09-01 00:00 … 09-30 23:59:59.999 | 10-01 00:00
        *(
            make_record(moment.replace(tzinfo=SHANGHAI).timestamp(), user_id="user_sep", cost=cost)
            for moment, cost in (
                (datetime(2025, 8, 31, 23, 59, 59, 999000), 1.0),
                (datetime(2025, 9, 1), 2.0),
                (datetime(2025, 9, 30, 23, 59, 59, 999000), 4.0),
                (datetime(2025, 10, 1), 8.0),
            )
        ),
    ]


@dataclass
class Dataset:
    now: datetime
    records: list[UsageRecord]
    settings: Settings
    client: TestClient
    #: ``duckdb`` or ``clickhouse``: the store backend the app answers from
    backend: str = "duckdb"


def settings_for(root: Path, **overrides: Any) -> Settings:
    """Settings for a test: its own folders, Asia/Shanghai, fast tailing, nothing from the environment."""
    values: dict[str, Any] = {
        "records_dir": root / "records",
        "index_dir": root / "index",
        "reports_dir": root / "reports",
        "timezone": "Asia/Shanghai",
        "api_token": None,
        "tail_interval": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


#: The store backends every test of the ``dataset`` fixture runs on.
BACKENDS = ("duckdb", "clickhouse")


@pytest.fixture(scope="module", params=BACKENDS)
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    root = tmp_path_factory.mktemp("api")
    now = settle_clock(margin=60.0)
    records = boundary_records(now)
    settings = settings_for(root)
    write_records(settings.records_dir, records, SHANGHAI)
    if request.param == "clickhouse":
        server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
        url = server.url(server.new_database("api"))
        assert load_jsonl(url, settings.records_dir) == len(records)
        settings = settings_for(root, store=url)
    with local_client(create_app(settings)) as client:
        yield Dataset(now=now, records=records, settings=settings, client=client, backend=request.param)
