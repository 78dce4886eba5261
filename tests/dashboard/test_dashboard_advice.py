"""The dashboard's advice card in headless Chromium: the API's top items, as text, in both languages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ai_usage_monitor.records import UsageRecord
from tests.dashboard.conftest import Watched
from tests.dashboard.support import PAGE, save_screenshot
from tests.support.servers import serve_records

TIMEZONE = "Asia/Shanghai"
XSS_FUNCTION = "<img src=x onerror=alert(7)>"
KIND_EN = {
    "cheaper_model": "Cheaper model",
    "thinking": "Thinking mode",
    "context_tier": "Context tier",
    "cache": "Cache hits",
    "failures": "Failed calls",
}
KIND_ZH = {
    "cheaper_model": "换更便宜的模型",
    "thinking": "思考模式",
    "context_tier": "上下文阶梯价",
    "cache": "缓存命中",
    "failures": "失败调用",
}


def _records(now: float) -> list[UsageRecord]:
    def call(hours: float, model: str, function: str, **fields: Any) -> UsageRecord:
        return UsageRecord(
            timestamp=now - hours * 3600,
            provider="dashscope",
            model=model,
            function=function,
            priced=True,
            **fields,
        )

    return [
        call(
            2,
            "qwen-max",
            XSS_FUNCTION,
            input_tokens=10_000,
            output_tokens=2_000,
            cached_tokens=500,
            cost=0.04166,
        ),
        call(
            3,
            "qwen-max",
            XSS_FUNCTION,
            input_tokens=10_000,
            output_tokens=2_000,
            cached_tokens=500,
            cost=0.04166,
        ),
        call(
            3.5,
            "qwen-max",
            XSS_FUNCTION,
            input_tokens=1_000,
            output_tokens=0,
            success=False,
            cost=0.0024,
        ),
        call(
            4,
            "qwen-plus",
            "实时分析",
            input_tokens=3_000,
            output_tokens=1_000,
            reasoning_tokens=600,
            cost=0.0104,
        ),
        call(5, "qwen-plus", "实时分析", input_tokens=500, output_tokens=0, success=False, cost=0.0004),
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    records_dir = tmp_path_factory.mktemp("advice_card") / "records"
    with serve_records(records_dir, _records(time.time()), TIMEZONE) as base:
        yield base


def _card(watched: Watched) -> list[list[dict[str, Any]]]:
    rows: list[list[dict[str, Any]]] = watched.page.eval_on_selector_all(
        '[data-testid="table-advice"] > tr:not(.empty-row)',
        "trs => trs.map(tr => [...tr.cells].map(td => ({text: td.textContent, value: td.dataset.value, "
        "title: td.title})))",
    )
    return rows


def test_advice_card_shows_the_top_items_as_text(watched: Watched, site: str) -> None:
    page = watched.page
    page.goto(f"{site}{PAGE}")
    page.wait_for_selector('[data-testid="table-advice"] > tr:not(.empty-row)', timeout=15_000)
    items = httpx.get(f"{site}/api/ai_usage/advice", params={"days": 30}, timeout=10).json()["items"]
    top = [item for item in items if item["monthly_saving"] > 0][:5]
    assert len(items) == 6, items  # the card lists the first five
    rows = _card(watched)
    assert [row[0]["text"] for row in rows] == [KIND_EN[item["kind"]] for item in top]
    assert [row[1]["text"] for row in rows] == [item["function"] for item in top]
    for row, item in zip(rows, top, strict=True):
        assert float(row[3]["value"]) == pytest.approx(item["monthly_saving"], rel=1e-4)
        assert row[3]["text"].startswith("¥")
        assert row[2]["title"].startswith(item["detail"].split(" Saving ")[0])
        if item["kind"] == "cheaper_model":
            assert row[2]["text"] == f"Move {item['model']} to {item['to_model']}"
    # the user-chosen function name stays text: no element made of it, no script run
    assert page.locator('[data-testid="panel-advice"] img').count() == 0
    assert watched.dialogs == []
    assert watched.console_errors == []

    save_screenshot(page, "dashboard-advice-en.png")
    page.get_by_test_id("lang-switch").click()
    rows = _card(watched)
    assert [row[0]["text"] for row in rows] == [KIND_ZH[item["kind"]] for item in top]
    assert page.get_by_test_id("panel-advice").locator("h2").text_content() == "省钱建议"
