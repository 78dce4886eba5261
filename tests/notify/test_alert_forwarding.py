"""The real server forwards Alertmanager notifications to ``alert_channels`` through the outbox (once per
group, status and start) and lists every delivery attempt at ``GET /api/ai_usage/notifications``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ai_usage_monitor.config import Settings
from ai_usage_monitor.notify import shutdown_outboxes
from tests.notify.conftest import wait_until
from tests.support.robots import robot_receiver
from tests.support.servers import serve_monitor

GROUP = '{}/{service="ai-usage-monitor"}:{alertname="AIUsageDailyCostOverLimit"}'


def _payload(status: str, starts: str = "2026-12-07T01:00:00Z") -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {"alertname": "AIUsageDailyCostOverLimit", "severity": "critical", "function": "实时分析"},
        "annotations": {"summary": "今日花费超过 ¥50"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-07T02:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=ai_usage%3Acost_today",
        "fingerprint": "fp-daily",
    }
    return {
        "version": "4",
        "groupKey": GROUP,
        "status": status,
        "receiver": "ai-usage-monitor",
        "groupLabels": {"alertname": "AIUsageDailyCostOverLimit"},
        "commonLabels": {"service": "ai-usage-monitor"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }


@pytest.fixture(autouse=True)
def _stop_outboxes() -> Iterator[None]:
    yield
    shutdown_outboxes()


def test_alert_groups_reach_the_alert_channels_once(tmp_path: Path) -> None:
    with robot_receiver("dingtalk", "SECalerts") as robot:
        settings = Settings(
            records_dir=tmp_path / "records",
            channels={"ops": {"type": "dingtalk", "url": robot.url, "secret": "SECalerts"}},
            alert_channels=["ops"],
            notify_retry_delay=0.1,
        )
        with serve_monitor(settings) as base, httpx.Client(base_url=base, timeout=10) as client:
            webhook = "/api/ai_usage/alerts/webhook"
            for body in (_payload("firing"), _payload("firing"), _payload("resolved")):
                assert client.post(webhook, json=body).status_code == 200
            wait_until(lambda: len(robot.accepted) == 2)
            history = client.get("/api/ai_usage/notifications", params={"limit": 3}).json()
            everything = client.get("/api/ai_usage/notifications").json()
    titles = [a["body"]["markdown"]["title"] for a in robot.accepted]
    assert titles == [
        "[告警] AIUsageDailyCostOverLimit (1 条告警)",
        "[已恢复] AIUsageDailyCostOverLimit (1 条告警)",
    ]
    assert "今日花费超过 ¥50" in robot.accepted[0]["body"]["markdown"]["text"]
    assert history["count"] == 3 and everything["count"] == 4
    ids = [row["id"] for row in everything["notifications"]]
    assert ids == sorted(ids, reverse=True)
    statuses = sorted(
        ("firing" if ":firing:" in row["key"] else "resolved", row["status"])
        for row in everything["notifications"]
    )
    assert statuses == [
        ("firing", "delivered"),
        ("firing", "queued"),
        ("resolved", "delivered"),
        ("resolved", "queued"),
    ]
    assert all(
        row["channel"] == "ops" and row["key"].startswith(f"alertmanager:{GROUP}:")
        for row in history["notifications"]
    )


def test_without_alert_channels_nothing_is_forwarded(tmp_path: Path) -> None:
    settings = Settings(records_dir=tmp_path / "records")
    with serve_monitor(settings) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.post("/api/ai_usage/alerts/webhook", json=_payload("firing")).status_code == 200
        listed = client.get("/api/ai_usage/notifications").json()
        assert client.get("/api/ai_usage/notifications", params={"limit": 0}).status_code == 422
    assert listed == {"count": 0, "notifications": []}
    assert not (tmp_path / "records" / ".notify").exists(), "listing must not create the delivery log"
