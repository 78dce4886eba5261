"""The monitor's Alertmanager webhook receiver: payloads as Alertmanager 0.25 sends them, kept once per
alert, newest first, bounded; bad payloads refused. (The real Alertmanager posts to it in
test_stack_e2e.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ai_usage_monitor.api.routes.alerts import AlertLog, WebhookPayload, get_alert_log, router

WEBHOOK = "/api/ai_usage/alerts/webhook"
ALERTS = "/api/ai_usage/alerts"


def _alert(
    name: str,
    status: str = "firing",
    *,
    fingerprint: str = "",
    starts: str = "2025-10-26T06:00:00Z",
    ends: str = "0001-01-01T00:00:00Z",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "service": "ai-usage-monitor", "severity": "critical", **labels},
        "annotations": {"summary": f"{name} summary", "description": "what to do"},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=ai_usage%3Acost_today",
        "fingerprint": fingerprint or f"fp-{name}",
    }


def _payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}/{service="ai-usage-monitor"}:{alertname="AIUsageDailyCostOverLimit"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "ai-usage-monitor",
        "groupLabels": {"alertname": "AIUsageDailyCostOverLimit"},
        "commonLabels": {"service": "ai-usage-monitor"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    app.include_router(router, prefix="/api/ai_usage")
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://monitor") as client:
        yield client


async def test_a_firing_alert_is_received_and_listed(client: httpx.AsyncClient) -> None:
    answer = await client.post(WEBHOOK, json=_payload(_alert("AIUsageDailyCostOverLimit", currency="CNY")))
    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "stored": 1}
    listed = (await client.get(ALERTS)).json()
    assert listed["count"] == 1 and listed["firing"] == 1
    [alert] = listed["alerts"]
    assert alert["alertname"] == "AIUsageDailyCostOverLimit"
    assert alert["status"] == "firing"
    assert alert["severity"] == "critical"
    assert alert["summary"] == "AIUsageDailyCostOverLimit summary"
    assert alert["labels"]["currency"] == "CNY"
    assert alert["ends_at"] is None, "Alertmanager's zero time means 'not ended'"
    assert alert["starts_at"].startswith("2025-10-26T06:00:00")
    assert alert["receiver"] == "ai-usage-monitor"
    assert alert["notifications"] == 1


async def test_repeats_and_resolution_update_one_entry(client: httpx.AsyncClient) -> None:
    firing = _alert("AIUsageErrorRateHigh", model="qwen-plus", function="实时分析")
    await client.post(WEBHOOK, json=_payload(firing))
    await client.post(WEBHOOK, json=_payload(firing))
    resolved = {**firing, "status": "resolved", "endsAt": "2025-10-26T06:20:00Z"}
    await client.post(WEBHOOK, json=_payload(resolved, status="resolved"))
    listed = (await client.get(ALERTS)).json()
    assert listed["count"] == 1 and listed["firing"] == 0
    [alert] = listed["alerts"]
    assert alert["status"] == "resolved"
    assert alert["notifications"] == 3
    assert alert["ends_at"].startswith("2025-10-26T06:20:00")
    assert alert["labels"]["function"] == "实时分析"
    assert alert["first_received_at"] <= alert["last_received_at"]
    assert (await client.get(ALERTS, params={"status": "firing"})).json()["alerts"] == []


async def test_newest_first_with_status_filter_and_limit(client: httpx.AsyncClient) -> None:
    await client.post(WEBHOOK, json=_payload(_alert("A"), _alert("B")))
    await client.post(WEBHOOK, json=_payload(_alert("C", "resolved", ends="2025-10-26T07:00:00Z")))
    names = [a["alertname"] for a in (await client.get(ALERTS)).json()["alerts"]]
    assert names == ["C", "B", "A"]
    firing = (await client.get(ALERTS, params={"status": "firing", "limit": 1})).json()
    assert [a["alertname"] for a in firing["alerts"]] == ["B"]
    assert firing["firing"] == 2


async def test_a_new_start_of_the_same_alert_is_a_new_entry(client: httpx.AsyncClient) -> None:
    await client.post(WEBHOOK, json=_payload(_alert("AIUsageNoRecords", starts="2025-10-26T06:00:00Z")))
    await client.post(WEBHOOK, json=_payload(_alert("AIUsageNoRecords", starts="2025-10-27T06:00:00Z")))
    assert (await client.get(ALERTS)).json()["count"] == 2


async def test_the_log_keeps_only_the_last_n(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.ai_usage_alerts = AlertLog(maxlen=3)
    for i in range(5):
        await client.post(WEBHOOK, json=_payload(_alert(f"Alert{i}")))
    names = [a["alertname"] for a in (await client.get(ALERTS)).json()["alerts"]]
    assert names == ["Alert4", "Alert3", "Alert2"]
    assert get_alert_log(app) is app.state.ai_usage_alerts


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "firing"},
        _payload(_alert("X", "pending")),
        _payload({**_alert("X"), "startsAt": "yesterday"}),
        _payload({**_alert("X"), "labels": {"alertname": ["not", "a", "string"]}}),
        _payload(*[_alert(f"X{i}") for i in range(1001)]),
    ],
)
async def test_bad_payloads_get_a_422_and_change_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    answer = await client.post(WEBHOOK, json=body)
    assert answer.status_code == 422
    assert (await client.get(ALERTS)).json()["count"] == 0


@pytest.mark.parametrize("params", [{"status": "pending"}, {"limit": 0}, {"limit": 201}])
async def test_list_validates_its_parameters(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    assert (await client.get(ALERTS, params=params)).status_code == 422


def test_routes_are_in_the_openapi_schema_with_their_models(app: FastAPI) -> None:
    schema = app.openapi()
    post = schema["paths"][WEBHOOK]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/WebhookPayload")
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/WebhookAck")
    get = schema["paths"][ALERTS]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/AlertList")


def test_payload_model_reads_alertmanagers_field_names() -> None:
    payload = WebhookPayload.model_validate(_payload(_alert("X")))
    assert payload.external_url == "http://alertmanager:9093"
    assert payload.alerts[0].generator_url.startswith("http://prometheus:9090/graph")
    assert payload.group_labels == {"alertname": "AIUsageDailyCostOverLimit"}
