"""The page over time: auto-refresh updates in place, a lost server is shown, a token is asked once."""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.dashboard.conftest import Watched
from tests.dashboard.support import PAGE
from tests.support.records import write_records
from tests.support.servers import serve_monitor

TIMEZONE = "Asia/Shanghai"
ZONE = ZoneInfo(TIMEZONE)

# Counts, on every DOM change, the chart boxes and KPI values that are empty at that moment.
WATCH_FOR_BLANKS = """() => {
  window.__blanks = 0;
  const check = () => {
    for (const box of document.querySelectorAll('.chart-box')) if (!box.firstChild) window.__blanks += 1;
    for (const kpi of document.querySelectorAll('.kpi-cost, .kpi dd')) {
      if (!kpi.textContent.trim()) window.__blanks += 1;
    }
  };
  new MutationObserver(check).observe(document.querySelector('main'), {subtree: true, childList: true,
    characterData: true, attributes: true});
}"""


def call(cost: float, tokens: int = 100) -> UsageRecord:
    return UsageRecord(
        timestamp=time.time(),
        model="qwen-plus",
        function="实时分析",
        user_id="u1",
        anchor_id="a1",
        input_tokens=tokens,
        output_tokens=0,
        total_tokens=tokens,
        cost=cost,
        provider="dashscope",
        priced=True,
        duration_ms=100.0,
    )


def test_auto_refresh_updates_in_place(watched: Watched, tmp_path: Path) -> None:
    records = tmp_path / "records"
    write_records(records, [call(0.01)], ZONE)
    settings = Settings(records_dir=records, timezone=TIMEZONE, api_token=None, tail_interval=0.1)
    page = watched.page
    with serve_monitor(settings) as base:
        page.goto(f"{base}{PAGE}?refresh=1")
        page.wait_for_selector("body[data-ready=true]")
        assert page.text_content('[data-testid="kpi-today-calls"]') == "1"
        assert page.text_content(".status-note") == "Refreshes every 1 s"
        page.evaluate("() => { document.querySelector('[data-testid=\"kpi-today-calls\"]').__same = true; }")
        page.evaluate(WATCH_FOR_BLANKS)

        write_records(records, [call(0.02), call(0.03)], ZONE)
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"kpi-today-calls\"]').textContent === '3'",
            timeout=8000,
        )
        assert page.text_content('[data-testid="kpi-today-cost"]') == "¥0.06"
        assert page.evaluate(
            "() => document.querySelector('[data-testid=\"kpi-today-calls\"]').__same === true"
        ), "the KPI element was replaced instead of updated"
        assert page.evaluate("() => window.__blanks") == 0
        assert watched.console_errors == []

    # The server is gone: the page says so and keeps showing the last numbers.
    page.wait_for_selector('[data-testid="offline-banner"]', state="visible", timeout=8000)
    assert page.text_content('[data-testid="kpi-today-calls"]') == "3"


def test_token_is_asked_once_and_kept_for_the_session(watched: Watched, tmp_path: Path) -> None:
    records = tmp_path / "records"
    write_records(records, [call(0.25)], ZONE)
    settings = Settings(records_dir=records, timezone=TIMEZONE, api_token="s3cret-token")
    page = watched.page
    with serve_monitor(settings) as base:
        page.goto(f"{base}{PAGE}")
        page.wait_for_selector('[data-testid="token-form"]', state="visible")
        assert page.text_content('[data-testid="kpi-today-cost"]') == "—"
        assert not page.is_visible('[data-testid="token-error"]')
        assert watched.console_errors == [], "knowing from /config that a token is needed, nothing fails"

        page.fill('[data-testid="token-input"]', "wrong")
        page.click('[data-testid="token-submit"]')
        page.wait_for_selector('[data-testid="token-error"]', state="visible")
        assert page.is_visible('[data-testid="token-form"]')

        page.fill('[data-testid="token-input"]', "s3cret-token")
        page.click('[data-testid="token-submit"]')
        page.wait_for_selector("body[data-ready=true]")
        assert page.is_hidden('[data-testid="token-overlay"]')
        assert page.text_content('[data-testid="kpi-today-cost"]') == "¥0.25"

        dashboard_requests = []
        page.on("request", lambda r: dashboard_requests.append(r) if "/dashboard" in r.url else None)
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        assert page.is_hidden('[data-testid="token-overlay"]'), "the token is kept for the browser session"
        assert dashboard_requests[0].headers["authorization"] == "Bearer s3cret-token"
        assert page.text_content('[data-testid="kpi-today-cost"]') == "¥0.25"
