"""One model name per call: real ``openai`` clients on the local fake, whose answers name OpenAI's dated
snapshot, succeed and fail under the requested name; the REST API and ``/metrics`` then show one model
with the right success rate, and old records (answered name in ``model``) group the same way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from ai_usage_monitor.api import create_app
from ai_usage_monitor.api.app import API_PREFIX
from ai_usage_monitor.pricing import clear_registered_prices, register_price
from ai_usage_monitor.records import UsageRecord
from tests.api.conftest import settings_for
from tests.api.helpers import SHANGHAI, local_client
from tests.api.test_api_metrics import by_labels, samples
from tests.conftest import Instrumented
from tests.instrumentation.openai_support import Clients, chat, directive, only_record
from tests.support.records import write_records

REQUESTED = "gpt-4o-mini"
#: what the fake (like OpenAI) answers for ``REQUESTED``
ANSWERED = "gpt-4o-mini-2024-07-18"


def models_seen(client: TestClient) -> dict[str, Any]:
    """Today's per-model breakdown on the dashboard, /stats/daily and the /metrics request counters."""
    dashboard = client.get(f"{API_PREFIX}/dashboard", params={"range": "today"}).json()
    dashboard = dashboard["selected"]["by_model"]
    daily = client.get(f"{API_PREFIX}/stats/daily").json()["by_model"]
    requests = by_labels(samples(client.get("/metrics").text)["ai_usage_requests_total"], "model", "status")
    return {"dashboard": dashboard, "daily": daily, "metrics": requests}


@pytest.fixture
def served(instrumented: Instrumented, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app (lifespan included) over the records the test's instrumented calls write."""
    settings = settings_for(tmp_path_factory.mktemp("served"), records_dir=instrumented.records_dir)
    with local_client(create_app(settings)) as client:
        yield client


async def test_successes_and_failures_share_the_requested_name(
    instrumented: Instrumented, clients: Clients, fake: Any, served: TestClient
) -> None:
    client = clients.openai()
    for _ in range(3):
        completion = await chat(client, REQUESTED, directive(prompt_tokens=100, completion_tokens=10))
        assert completion.model == ANSWERED
    with pytest.raises(openai.RateLimitError):
        await chat(client, REQUESTED, directive(error=429))

    records = instrumented.records()
    assert [r["model"] for r in records] == [REQUESTED] * 4
    assert [r["response_model"] for r in records] == [ANSWERED] * 3 + [None]
    assert [r["success"] for r in records] == [True, True, True, False]

    seen = wait_indexed(served, 4)
    for where in ("dashboard", "daily"):
        assert set(seen[where]) == {REQUESTED}, where
        row = seen[where][REQUESTED]
        assert (row["calls"], row["success_rate"]) == (4, 75.0), where
        assert row["cost"] == pytest.approx(sum(r["cost"] for r in records)) and row["cost"] > 0
    assert seen["metrics"] == {(REQUESTED, "ok"): 3.0, (REQUESTED, "error"): 1.0}


def wait_indexed(client: TestClient, calls: int) -> dict[str, Any]:
    """``models_seen`` once the store has indexed ``calls`` records (it tails every 50 ms)."""
    deadline = time.monotonic() + 10.0
    while client.get("/health").json()["records_indexed"] < calls:
        assert time.monotonic() < deadline, "records not indexed in 10 s"
        time.sleep(0.05)
    return models_seen(client)


async def test_pricing_uses_the_answered_snapshot(
    instrumented: Instrumented, clients: Clients, fake: Any
) -> None:
    register_price(ANSWERED, provider="openai", input=1.0, output=2.0, currency="CNY", unit="1K")
    try:
        await chat(clients.openai(), REQUESTED, directive(prompt_tokens=1000, completion_tokens=500))
    finally:
        clear_registered_prices()
    record = only_record(instrumented)
    assert (record["model"], record["response_model"]) == (REQUESTED, ANSWERED)
    assert record["cost"] == pytest.approx(1000 * 1.0 / 1000 + 500 * 2.0 / 1000)
    assert record["price_ref"] == f"registered/openai/{ANSWERED}@undated"


def test_old_records_group_under_their_request_model(tmp_path: Path) -> None:
    """Records written before ``response_model``: the answered name in ``model``, the asked one beside."""
    now = time.time()
    settings = settings_for(tmp_path)
    old = [
        UsageRecord(now - 3, provider="openai", model=ANSWERED, request_model=REQUESTED, input_tokens=5),
        UsageRecord(now - 2, provider="openai", model=ANSWERED, request_model=REQUESTED, input_tokens=5),
        UsageRecord(now - 1, provider="openai", model=REQUESTED, success=False, error_msg="429"),
        UsageRecord(now - 1, provider="dashscope", model="qwen-plus", input_tokens=5),
    ]
    write_records(settings.records_dir, old, SHANGHAI)
    with local_client(create_app(settings)) as client:
        seen = wait_indexed(client, len(old))
    for where in ("dashboard", "daily"):
        assert set(seen[where]) == {REQUESTED, "qwen-plus"}, where
        assert seen[where][REQUESTED]["calls"] == 3, where
        assert seen[where][REQUESTED]["success_rate"] == pytest.approx(200 / 3), where
    assert seen["metrics"] == {(REQUESTED, "ok"): 2.0, (REQUESTED, "error"): 1.0, ("qwen-plus", "ok"): 1.0}
