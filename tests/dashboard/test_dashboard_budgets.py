"""The budgets card in real headless Chromium against the real app: a row per budget (and per scope value)
with its bar, state, reset time and run-out date as the API gives them, both languages, names shown as
text only, and no card at all without budgets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from ai_usage_monitor.config import Settings
from tests.api.conftest import make_record
from tests.api.helpers import SHANGHAI, settle_clock
from tests.api.test_api_budgets import BUDGETS, spend_records
from tests.dashboard.conftest import Watched, open_page
from tests.dashboard.support import PAGE, approx_equal, save_screenshot
from tests.dashboard.test_dashboard_page import by_testid, formatted, load, table
from tests.support.records import write_records
from tests.support.servers import serve_monitor

HOSTILE = '<img src=x onerror="window.__pwned=1">'
STATES_EN = {"ok": "OK", "warning": "Near the limit", "exceeded": "Over the limit"}
STATES_ZH = {"ok": "正常", "warning": "接近上限", "exceeded": "已超限"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    now = settle_clock(margin=60.0)
    records = [*spend_records(now), make_record(now.timestamp() - 5, anchor_id=HOSTILE, cost=0.001)]
    budgets = [*BUDGETS, {"name": HOSTILE, "period": "week", "limit": 10.0}]
    root = tmp_path_factory.mktemp("budgets-page")
    write_records(root / "records", records, SHANGHAI)
    settings = Settings(
        records_dir=root / "records",
        index_dir=root / "index",
        timezone="Asia/Shanghai",
        api_token=None,
        raise_internal_errors=True,
        budgets=budgets,
    )
    with serve_monitor(settings) as base:
        yield base


def label(row: dict[str, Any]) -> str:
    return row["name"] if row["scope_value"] == "" else f"{row['name']} · {row['scope_value']}"


def test_budgets_card_shows_each_budget_with_its_bar_state_and_dates(watched: Watched, site: str) -> None:
    page = watched.page
    load(page, f"{site}{PAGE}")
    page.wait_for_selector('[data-testid="budget-state"]', timeout=15_000)
    api: dict[str, Any] = httpx.get(f"{site}/api/ai_usage/budgets", timeout=30).json()
    forecast = httpx.get(f"{site}/api/ai_usage/forecast", timeout=30).json()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=budget-runout]')].some(c => c.dataset.value)"
    )
    run_out = {b["name"]: b["runs_out_at"] for b in forecast["budgets"]}
    rows = table(page, "table-budgets")
    assert [cells[0]["text"] for cells in rows] == [label(row) for row in api["budgets"]]
    widths = page.eval_on_selector_all(
        '[data-testid="table-budgets"] .budget-used .cell-bar i',
        "is => is.map(i => parseFloat(i.style.width))",
    )
    for cells, row, width in zip(rows, api["budgets"], widths, strict=True):
        used, state, resets, runs_out = cells[1:]
        assert approx_equal(used["value"], row["ratio"])
        money = [formatted(page, "formatMoney", row[k], api["currency"]) for k in ("spent", "limit")]
        assert used["text"] == f"{money[0]} / {money[1]}"
        assert width == pytest.approx(min(1.0, row["ratio"]) * 100, abs=1e-3)  # CSS keeps 6 digits
        assert (state["value"], state["text"]) == (row["state"], STATES_EN[row["state"]])
        shown_reset = datetime.fromisoformat(row["resets_at"]).strftime("%Y-%m-%d %H:%M:%S")
        assert (resets["value"], resets["text"]) == (row["resets_at"], shown_reset)
        # the forecast has no run-out date for a per-value budget ("—")
        if row["name"] in run_out:
            assert runs_out["text"] == (run_out[row["name"]] or "not this period")
        else:
            assert runs_out["text"] == "—"
    # every state is on the page: the records break qwen-max's day and near 主播-7's month
    assert {row["state"] for row in api["budgets"]} == {"ok", "warning", "exceeded"}
    # names and scope values are text: the hostile ones show as written and run nothing
    assert HOSTILE in [cells[0]["text"] for cells in rows]
    assert any(cells[0]["text"] == f"主播月度额度 · {HOSTILE}" for cells in rows)
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator('[data-testid="table-budgets"] img').count() == 0
    assert not watched.console_errors
    save_screenshot(page, "dashboard-budgets.png")


def test_budgets_card_in_chinese(browser: Browser, site: str) -> None:
    watched = open_page(browser, locale="zh-CN")
    try:
        page = watched.page
        load(page, f"{site}{PAGE}")
        page.wait_for_selector('[data-testid="budget-state"]', timeout=15_000)
        states = by_testid(page, "budget-state")
        assert [s["text"] for s in states] == [STATES_ZH[s["value"]] for s in states]
        assert page.text_content('[data-testid="panel-budgets"] h2') == "预算"
        assert not watched.console_errors
    finally:
        watched.page.context.close()


def test_no_budgets_no_card(watched: Watched, tmp_path: Path) -> None:
    settings = Settings(
        records_dir=tmp_path / "records",
        index_dir=tmp_path / "index",
        timezone="Asia/Shanghai",
        api_token=None,
    )
    with serve_monitor(settings) as base:
        page = watched.page
        load(page, f"{base}{PAGE}")
        # the answer has arrived (an empty list), and the card stays hidden
        page.wait_for_function(
            "() => document.querySelector('[data-testid=table-budgets]').textContent"
            " === 'No budgets configured'"
        )
        assert page.locator('[data-testid="panel-budgets"]').is_hidden()
        assert not watched.console_errors
