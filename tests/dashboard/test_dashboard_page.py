"""The dashboard page in real headless Chromium against the real app over a known set of records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.dashboard.conftest import Watched, open_page
from tests.dashboard.records_fixture import (
    SCRIPT_FUNCTION,
    TIMEZONE,
    TODAY_EXPECTED,
    XSS_ANCHOR,
    XSS_USER,
    known_records,
)
from tests.dashboard.support import (
    PAGE,
    Glyphs,
    approx_equal,
    han_glyphs,
    launch_chromium_without_cjk_fonts,
    save_screenshot,
)
from tests.support.servers import serve_records

KPI_PERIODS = ("current_hour", "today", "month", "selected")
KPI_FIELDS = ("cost", "calls", "tokens", "success_rate")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The monitor serving the known records; yields its base URL."""
    records_dir = tmp_path_factory.mktemp("dashboard") / "records"
    with serve_records(records_dir, known_records(), TIMEZONE) as base:
        yield base


def api(base: str, range_key: str = "today") -> dict[str, Any]:
    response = httpx.get(f"{base}/api/ai_usage/dashboard", params={"range": range_key}, timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def load(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)


def by_testid(page: Page, testid: str) -> list[dict[str, Any]]:
    """Every element with ``data-testid``: its data attributes and its text."""
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        f'[data-testid="{testid}"]', "els => els.map(e => ({...e.dataset, text: e.textContent}))"
    )
    return rows


def table(page: Page, testid: str) -> list[list[dict[str, Any]]]:
    """A table body's rows, each a list of cells ``{text, value}``."""
    rows: list[list[dict[str, Any]]] = page.eval_on_selector_all(
        f'[data-testid="{testid}"] > tr',
        "trs => trs.map(tr => [...tr.cells].map(td => ({text: td.textContent, value: td.dataset.value})))",
    )
    return rows


def formatted(page: Page, function: str, *args: Any) -> str:
    """What the page's own formatter prints for ``args`` (the numbers themselves are compared raw)."""
    text: str = page.evaluate(
        "async ([name, args]) => (await import('./format.js'))[name](...args)", [function, list(args)]
    )
    return text


def assert_breakdown(shown: list[dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    """Chart entries (label → value) equal the API's breakdown by cost, largest first."""
    assert {row["label"]: float(row["value"]) for row in shown} == pytest.approx(
        {name: row["cost"] for name, row in expected.items()}
    )
    values = [float(row["value"]) for row in shown]
    assert values == sorted(values, reverse=True)


def test_page_shows_what_the_api_returns(watched: Watched, site: str) -> None:
    page = watched.page
    load(page, f"{site}/")
    assert page.url == f"{site}{PAGE}"
    data = api(site)
    assert data["today"]["calls"] == 5, "the fixture's records were not indexed as expected"

    for period in KPI_PERIODS:
        for field in KPI_FIELDS:
            (cell,) = by_testid(page, f"kpi-{period}-{field}")
            assert approx_equal(cell["value"], data[period][field]), (period, field)
            function = {"cost": "formatMoney", "success_rate": "formatPercent"}.get(field, "formatInt")
            assert cell["text"] == formatted(page, function, data[period][field]), (period, field)
    assert {f: by_testid(page, f"kpi-today-{f}")[0]["text"] for f in KPI_FIELDS} == TODAY_EXPECTED
    (latency,) = by_testid(page, "kpi-selected-avg_duration_ms")
    assert approx_equal(latency["value"], data["selected"]["avg_duration_ms"])

    trend = by_testid(page, "trend-point")
    assert [(p["label"], float(p["value"])) for p in trend] == [
        (d["date"], d["cost"]) for d in data["cost_trend"]
    ]
    assert len(trend) == 30
    assert approx_equal(
        by_testid(page, "trend-total")[0]["value"], sum(d["cost"] for d in data["cost_trend"])
    )

    assert_breakdown(by_testid(page, "model-slice-legend"), data["selected"]["by_model"])
    assert_breakdown(
        by_testid(page, "model-slice"),
        {k: v for k, v in data["selected"]["by_model"].items() if v["cost"] > 0},
    )
    assert_breakdown(by_testid(page, "function-bar"), data["selected"]["by_function"])
    legend = {row["label"]: row["text"] for row in by_testid(page, "model-slice-legend")}
    assert "¥0.0123" in legend["qwen-plus"]
    assert "¥0.00002" in legend["gpt-4o-mini"], "a tiny cost must stay visible"

    s = data["selected"]
    mix = {row["key"]: float(row["value"]) for row in by_testid(page, "mix-segment")}
    assert mix == {
        "input": s["input_tokens"] - s["cached_tokens"],
        "cached": s["cached_tokens"],
        "output": s["output_tokens"] - s["reasoning_tokens"],
        "reasoning": s["reasoning_tokens"],
    }
    assert mix["cached"] == 500 and mix["reasoning"] == 100

    for testid, rows, key in (
        ("table-users", data["top_users"], "user_id"),
        ("table-anchors", data["top_anchors"], "anchor_id"),
    ):
        shown = table(page, testid)
        assert [r[0]["text"] for r in shown] == [row[key] for row in rows]
        assert [float(c["value"]) for r in shown for c in r[1:]] == pytest.approx(
            [row[f] for row in rows for f in ("calls", "tokens", "cost")]
        )
        assert [r[3]["text"] for r in shown] == [formatted(page, "formatMoney", row["cost"]) for row in rows]

    latency_rows = table(page, "table-latency")
    assert [r[0]["text"] for r in latency_rows] == [row["model"] for row in data["latency_by_model"]]
    assert [float(c["value"]) for r in latency_rows for c in r[1:]] == pytest.approx(
        [row[f] for row in data["latency_by_model"] for f in ("calls", "avg_ms", "p50_ms", "p95_ms")]
    )

    errors = table(page, "table-errors")
    assert len(errors) == len(data["recent_errors"]) == 1
    assert float(errors[0][0]["value"]) == pytest.approx(data["recent_errors"][0]["timestamp"])
    assert errors[0][4]["text"] == "RateLimitError: 429 <b>rate limited</b>"

    assert page.is_visible('[data-testid="unpriced-banner"]')
    unpriced = [row["text"] for row in by_testid(page, "unpriced-item")]
    assert [m["model"] for m in data["unpriced_models"]] == ["local-llm"]
    assert len(unpriced) == 1 and unpriced[0].startswith("local-llm")

    assert save_screenshot(page, "dashboard.png").stat().st_size > 10_000

    assert watched.console_errors == []
    assert watched.dialogs == []
    outside = [
        url
        for url in watched.requests
        if urlsplit(url).hostname != "127.0.0.1" and not url.startswith("data:")
    ]
    assert outside == [], "the page must load with no request leaving 127.0.0.1"
    assert any("/api/ai_usage/dashboard" in url for url in watched.requests)


def test_strings_from_records_render_as_text(watched: Watched, site: str) -> None:
    page = watched.page
    load(page, f"{site}{PAGE}")
    (error_row,) = table(page, "table-errors")
    assert error_row[2]["text"] == SCRIPT_FUNCTION
    assert error_row[3]["text"] == f"{XSS_USER} / {XSS_ANCHOR}"
    bars = {row["label"]: row for row in by_testid(page, "function-bar")}
    assert SCRIPT_FUNCTION in bars
    assert bars[SCRIPT_FUNCTION]["text"].startswith("<script>")
    users = [row[0]["text"] for row in table(page, "table-users")]
    assert XSS_USER in users
    page.wait_for_timeout(300)
    injected = page.evaluate(
        "() => ({scripts: document.scripts.length, imgs: document.images.length,"
        " handlers: document.querySelectorAll('[onload], [onerror]').length,"
        " bold: document.querySelectorAll('main b').length})"
    )
    assert injected == {"scripts": 1, "imgs": 0, "handlers": 0, "bold": 0}
    assert watched.dialogs == []
    assert watched.console_errors == []


def assert_real_chinese_glyphs(glyphs: Glyphs) -> None:
    """Every distinct Han character on the page draws its own inked glyph, none the missing-glyph box."""
    assert len(glyphs.chars) >= 8, glyphs
    assert glyphs.blank == 0 and glyphs.like_notdef == 0, f"Chinese renders as boxes (no CJK font?): {glyphs}"
    assert glyphs.distinct == len(glyphs.chars), f"distinct characters draw the same glyph: {glyphs}"


def test_language_switch_changes_the_labels(browser: Browser, watched: Watched, site: str) -> None:
    page = watched.page
    load(page, f"{site}{PAGE}")
    title = page.locator('[data-testid="kpi-today"] .kpi-title')
    assert page.text_content("h1") == "AI Usage Monitor"
    assert title.text_content() == "Today"
    assert page.get_attribute("html", "lang") == "en"

    page.click('[data-testid="lang-switch"]')
    assert page.text_content("h1") == "AI 用量监控"
    assert title.text_content() == "今天"
    assert page.locator('[data-testid="kpi-month"] .kpi-title').text_content() == "本月至今"
    assert page.text_content('[data-testid="panel-errors"] h2') == "最近错误"
    assert page.text_content('[data-testid="lang-switch"]') == "English"
    assert page.text_content('[data-testid="kpi-today-cost"]') == TODAY_EXPECTED["cost"]
    save_screenshot(page, "dashboard-zh.png")
    assert_real_chinese_glyphs(han_glyphs(page))

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.text_content("h1") == "AI 用量监控", "the chosen language is remembered"

    chinese = open_page(browser, locale="zh-CN")
    try:
        load(chinese.page, f"{site}{PAGE}")
        assert chinese.page.text_content("h1") == "AI 用量监控", "Chinese browsers start in Chinese"
        assert chinese.console_errors == []
    finally:
        chinese.page.context.close()


def test_glyph_check_fails_without_a_cjk_font(browser: Browser, site: str, tmp_path: Path) -> None:
    no_cjk = launch_chromium_without_cjk_fonts(browser.browser_type, tmp_path)
    try:
        page = no_cjk.new_page(locale="zh-CN")
        load(page, f"{site}{PAGE}")
        assert page.text_content("h1") == "AI 用量监控"
        with pytest.raises(AssertionError, match="boxes"):
            assert_real_chinese_glyphs(han_glyphs(page))
    finally:
        no_cjk.close()


def test_range_picker_asks_for_that_range(watched: Watched, site: str) -> None:
    page = watched.page
    load(page, f"{site}{PAGE}")
    with page.expect_response(lambda r: "/api/ai_usage/dashboard?range=7d" in r.url) as answer:
        page.click('[data-range="7d"]')
    shown = answer.value.json()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"kpi-selected-calls\"]').textContent === '7'"
    )
    expected = api(site, "7d")
    assert shown["range"]["key"] == "7d"
    assert expected["selected"]["calls"] == 7
    (cost,) = by_testid(page, "kpi-selected-cost")
    assert approx_equal(cost["value"], expected["selected"]["cost"])
    assert page.get_attribute('[data-range="7d"]', "aria-pressed") == "true"
    assert page.get_attribute('[data-range="today"]', "aria-pressed") == "false"
    assert {row["label"] for row in by_testid(page, "model-slice-legend")} == set(
        expected["selected"]["by_model"]
    )
    assert watched.console_errors == []


def test_money_is_rounded_for_display_only(watched: Watched, site: str) -> None:
    page = watched.page
    load(page, f"{site}{PAGE}")
    cases = {
        0: "¥0.00",
        0.0123: "¥0.0123",
        0.00002: "¥0.00002",
        0.000012345: "¥0.0000123",
        0.5: "¥0.50",
        0.41234: "¥0.412",
        1: "¥1.00",
        1234.567: "¥1,234.57",
        0.999999: "¥1.00",
        -0.5: "-¥0.50",
    }
    for value, text in cases.items():
        assert formatted(page, "formatMoney", value, "CNY") == text, value
    assert formatted(page, "formatMoney", 0.0123, "USD") == "$0.0123"
    assert formatted(page, "formatPercent", 66.66666) == "66.67%"
    assert formatted(page, "formatInt", 1234567) == "1,234,567"
    assert formatted(page, "formatMs", 843.2) == "843 ms"
    assert formatted(page, "formatMs", 1234.5) == "1.23 s"
    assert formatted(page, "formatDateTime", 0, "Asia/Shanghai") == "1970-01-01 08:00:00"
