"""``GET /api/ai_usage/advice`` on the real app: hand-computed savings, the days range, the token guard."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ai_usage_monitor.api import create_app
from ai_usage_monitor.records import UsageRecord
from tests.api.conftest import settings_for
from tests.api.helpers import SHANGHAI, local_client
from tests.insights.advice_records import hand_cost
from tests.support.records import write_records

FUNCTION = "实时分析"
#: (input, output, cached) of the calls, the last one failed but billed
CALLS = [(10_000, 2_000, 1_000), (10_000, 2_000, 1_000), (1_000, 0, 0)]


def _records(now: float) -> list[UsageRecord]:
    out = [
        UsageRecord(
            timestamp=now - 3600 * (i + 1),
            provider="dashscope",
            model="qwen-max",
            function=FUNCTION,
            input_tokens=inp,
            output_tokens=outp,
            cached_tokens=cached,
            cost=hand_cost("qwen-max", inp, outp, cached),
            success=i < 2,
            priced=True,
            duration_ms=1000.0,
        )
        for i, (inp, outp, cached) in enumerate(CALLS)
    ]
    # 40 days ago: outside the 30-day window
    out.append(
        UsageRecord(
            timestamp=now - 40 * 86400,
            provider="dashscope",
            model="qwen-max",
            function="旧功能",
            input_tokens=5_000,
            output_tokens=5_000,
            priced=True,
            success=False,
            cost=0.06,
        )
    )
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("advice_api")
    settings = settings_for(root)
    write_records(settings.records_dir, _records(time.time()), SHANGHAI)
    with local_client(create_app(settings)) as test_client:
        yield test_client


def test_advice_figures_equal_a_hand_computation(client: TestClient) -> None:
    before = time.time()
    answer = client.get("/api/ai_usage/advice")
    after = time.time()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["currency"] == "CNY"
    assert body["period_days"] == 30
    items = body["items"]
    assert [(i["kind"], i["function"], i["model"]) for i in items] == [
        ("cheaper_model", FUNCTION, "qwen-max"),
        ("cache", FUNCTION, "qwen-max"),
        ("failures", FUNCTION, "qwen-max"),
    ]
    today = datetime.fromtimestamp(before, SHANGHAI).date()
    first = today - timedelta(days=29)
    start = datetime(first.year, first.month, first.day, tzinfo=SHANGHAI).timestamp()
    for item in items:
        evidence = item["evidence"]
        assert evidence["window_start"] == start
        assert before <= evidence["window_end"] <= after
    scale = 30 * 86400 / (items[0]["evidence"]["window_end"] - start)

    cheaper, cache, failures = items
    current = sum(hand_cost("qwen-max", *c) for c in CALLS)
    turbo = sum(hand_cost("qwen-turbo", *c) for c in CALLS)
    assert cheaper["to_model"] == "qwen-turbo"
    assert cheaper["monthly_saving"] == pytest.approx((current - turbo) * scale)
    assert cheaper["evidence"]["candidate_traffic"] is False
    assert cheaper["evidence"]["calls"] == 3
    target = sum(hand_cost("qwen-max", i, o, max(c, int(i * 0.3))) for i, o, c in CALLS)
    assert cache["monthly_saving"] == pytest.approx((current - target) * scale)
    assert failures["monthly_saving"] == pytest.approx(hand_cost("qwen-max", 1_000, 0) * scale)
    assert failures["evidence"]["failed_calls"] == 1


@pytest.mark.parametrize("days", ["0", "91", "abc", "-3"])
def test_days_out_of_range_is_a_clear_422(client: TestClient, days: str) -> None:
    answer = client.get("/api/ai_usage/advice", params={"days": days})
    assert answer.status_code == 422
    assert "days must be an integer from 1 to 90" in answer.text


def test_a_shorter_window_and_the_schema(client: TestClient) -> None:
    answer = client.get("/api/ai_usage/advice", params={"days": 1})
    assert answer.status_code == 200
    assert answer.json()["period_days"] == 1
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/api/ai_usage/advice"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/AdviceReport"}


def test_advice_needs_the_token(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, api_token="s3cret-token")
    with local_client(create_app(settings)) as guarded:
        assert guarded.get("/api/ai_usage/advice").status_code == 401
        ok = guarded.get("/api/ai_usage/advice", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert ok.json()["items"] == []
