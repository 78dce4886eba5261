"""The forecast band on the dashboard's cost-trend chart, in real headless Chromium against the real app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.config import Settings
from tests.api.conftest import make_record
from tests.dashboard.conftest import Watched
from tests.dashboard.support import PAGE, approx_equal, save_screenshot
from tests.dashboard.test_dashboard_page import by_testid, formatted, load
from tests.support.records import write_records
from tests.support.servers import serve_monitor

TIMEZONE = "Asia/Shanghai"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Five weeks of daily calls, busier at weekends, and one call today."""
    tz = ZoneInfo(TIMEZONE)
    now = datetime.now(tz)
    records = [
        make_record(
            (now - timedelta(days=back)).replace(hour=20, minute=0).timestamp(),
            cost=0.3 * (1.6 if (now - timedelta(days=back)).weekday() >= 5 else 1.0),
        )
        for back in range(1, 36)
    ]
    records.append(make_record(now.timestamp() - 60, cost=0.05))
    records_dir = tmp_path_factory.mktemp("forecast-page") / "records"
    write_records(records_dir, records, tz)
    settings = Settings(
        records_dir=records_dir, timezone=TIMEZONE, api_token=None, raise_internal_errors=True
    )
    with serve_monitor(settings) as base:
        yield base


def test_trend_chart_draws_the_forecast_band_to_month_end(watched: Watched, site: str) -> None:
    page = watched.page
    # the answer the page drew: today's expected spend moves with the clock, so a second request may differ
    with page.expect_response(lambda response: "/api/ai_usage/forecast" in response.url) as answered:
        load(page, f"{site}{PAGE}")
    page.wait_for_selector('[data-testid="forecast-point"]', timeout=15_000)
    forecast: dict[str, Any] = answered.value.json()
    points = by_testid(page, "forecast-point")
    assert [p["label"] for p in points] == [d["date"] for d in forecast["daily"]]
    for shown, day in zip(points, forecast["daily"], strict=True):
        for field in ("expected", "low", "high"):
            assert approx_equal(shown[field], day[field]), (day["date"], field)
    trend = by_testid(page, "trend-point")
    assert points[0]["label"] == trend[-1]["label"], "the band starts on today's point"

    # the band lies right of the past: it starts on today's point and ends at the plot's right end
    def xs(testid: str) -> list[float]:
        found: list[float] = page.eval_on_selector_all(
            f'[data-testid="{testid}"]', "cs => cs.map(c => Number(c.getAttribute('cx')))"
        )
        return found

    band_x, past_x = xs("forecast-point"), xs("trend-point")
    assert band_x[0] == pytest.approx(past_x[-1])
    assert band_x == sorted(band_x)
    assert band_x[-1] == pytest.approx(max(band_x + past_x))
    assert page.locator(".forecast-band").count() == 1
    team = forecast["forecast"][0]
    (note,) = by_testid(page, "trend-forecast")
    assert approx_equal(note["value"], team["expected"])
    assert formatted(page, "formatMoney", team["expected"]) in note["text"]
    assert not watched.console_errors
    save_screenshot(page, "dashboard-forecast.png")
