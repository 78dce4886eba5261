"""The service picker in real headless Chromium: it lists the services seen, filters every panel the
dashboard answer fills, keeps its choice in the page URL, and speaks both languages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page

from ai_usage_monitor.records import UsageRecord
from tests.dashboard.conftest import Watched, open_page
from tests.dashboard.support import PAGE
from tests.support.servers import serve_records

TIMEZONE = "Asia/Shanghai"
#: (service, user) of each call in the current clock hour; ``None``: a record from before services
CALLS = [
    ("live-api", "user_a"),
    ("live-api", "user_a"),
    ("live-api", "user_b"),
    ("客服", "用户_c"),
    ("客服", "用户_c"),
    (None, "user_old"),
]


def records(now: float) -> list[UsageRecord]:
    hour_start = datetime.fromtimestamp(now, ZoneInfo(TIMEZONE)).replace(minute=0, second=0, microsecond=0)
    base = max(hour_start.timestamp() + 0.5, now - 60)
    return [
        UsageRecord(
            timestamp=base + i,
            user_id=user,
            model="qwen-plus",
            function="实时分析",
            input_tokens=100 * (i + 1),
            output_tokens=10,
            total_tokens=100 * (i + 1) + 10,
            cost=0.001 * (i + 1),
            priced=True,
            provider="dashscope",
            service=service,
            host="pod-1",
        )
        for i, (service, user) in enumerate(CALLS)
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    records_dir = tmp_path_factory.mktemp("services") / "records"
    with serve_records(records_dir, records(time.time()), TIMEZONE) as base:
        yield base


def api(base: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/ai_usage/dashboard", params={"range": "today", **params}, timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def shown_calls(page: Page) -> str:
    value: str = page.get_attribute('[data-testid="kpi-today-calls"]', "data-value") or ""
    return value


def wait_for_calls(page: Page, calls: int) -> None:
    page.wait_for_function(
        "n => document.querySelector('[data-testid=\"kpi-today-calls\"]')?.dataset.value === String(n)",
        arg=calls,
        timeout=15_000,
    )


def options(page: Page) -> list[tuple[str, str]]:
    found: list[list[str]] = page.eval_on_selector_all(
        '[data-testid="service-picker"] option', "os => os.map(o => [o.value, o.textContent])"
    )
    return [(value, text) for value, text in found]


def users(page: Page) -> list[str]:
    names: list[str] = page.eval_on_selector_all(
        '[data-testid="table-users"] > tr', "trs => trs.map(tr => tr.cells[0].textContent)"
    )
    return names


def service_in_url(page: Page) -> list[str]:
    return parse_qs(urlsplit(page.url).query).get("service", [])


def test_picker_filters_every_panel_and_keeps_its_choice_in_the_url(watched: Watched, site: str) -> None:
    page = watched.page
    page.goto(f"{site}{PAGE}")
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    everything = api(site)
    assert everything["today"]["calls"] == len(CALLS)
    wait_for_calls(page, len(CALLS))
    # every service seen, most costly first, after "all services"
    cost: dict[str, float] = {}
    for record in records(time.time()):
        if record.service is not None:
            cost[record.service] = cost.get(record.service, 0.0) + record.cost
    by_cost = sorted(cost, key=lambda name: -cost[name])
    assert options(page) == [("", "All services"), *((name, name) for name in by_cost)]
    assert page.input_value('[data-testid="service-picker"]') == ""

    page.select_option('[data-testid="service-picker"]', "客服")
    picked = api(site, service="客服")
    assert picked["today"]["calls"] == sum(service == "客服" for service, _ in CALLS)
    wait_for_calls(page, picked["today"]["calls"])
    assert service_in_url(page) == ["客服"]
    for period in ("current_hour", "today", "month", "selected"):
        cost = page.get_attribute(f'[data-testid="kpi-{period}-cost"]', "data-value")
        assert cost is not None and float(cost) == pytest.approx(picked[period]["cost"]), period
    assert users(page) == [row["user_id"] for row in picked["top_users"]] == ["用户_c"]
    assert any("service=" in url and "/dashboard" in url for url in watched.requests)
    # the cards that are not filtered say they cover all services
    assert page.is_visible('[data-testid="panel-advice"] .all-services-note')

    page.select_option('[data-testid="service-picker"]', "")
    wait_for_calls(page, len(CALLS))
    assert service_in_url(page) == []
    assert not page.is_visible('[data-testid="panel-advice"] .all-services-note')
    assert watched.console_errors == []


def test_a_link_with_a_service_opens_filtered(watched: Watched, site: str) -> None:
    page = watched.page
    page.goto(f"{site}{PAGE}?service=live-api")
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    picked = api(site, service="live-api")
    wait_for_calls(page, picked["today"]["calls"])
    assert picked["today"]["calls"] == sum(service == "live-api" for service, _ in CALLS)
    assert page.input_value('[data-testid="service-picker"]') == "live-api"
    assert users(page) == [row["user_id"] for row in picked["top_users"]]
    assert "user_old" not in users(page)


def test_picker_speaks_chinese(browser: Browser, site: str) -> None:
    watched = open_page(browser, locale="zh-CN")
    try:
        page = watched.page
        page.goto(f"{site}{PAGE}")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        assert options(page)[0] == ("", "全部服务")
        assert page.text_content(".service-picker span") == "服务"
    finally:
        watched.page.context.close()
