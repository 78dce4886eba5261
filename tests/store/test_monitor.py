"""The Python query API (docs/architecture.md §5) and the original doc's examples, on records a test wrote."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from ai_usage_monitor import get_usage_monitor
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import periods
from ai_usage_monitor.store.reports import REPORT_NAME_RE
from tests.store.helpers import group, in_range, make_records, tokens
from tests.support.records import write_records

ROOT = Path(__file__).resolve().parents[2]
TZ_NAME = "Asia/Shanghai"


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, list[UsageRecord]]:
    from zoneinfo import ZoneInfo

    now = time.time()
    records = make_records(600, now - 20 * 86400, now - 1)
    records += [
        UsageRecord(timestamp=now - 2, user_id="big_spender", model="qwen-max", cost=5.0, priced=True)
    ]
    write_records(tmp_path / "records", records, ZoneInfo(TZ_NAME))
    return tmp_path / "records", records


def test_monitor_methods_equal_hand_aggregation(written: tuple[Path, list[UsageRecord]]) -> None:
    records_dir, records = written
    monitor = get_usage_monitor(records_dir=records_dir, timezone=TZ_NAME)
    tz = monitor.settings.tz
    today = monitor.get_daily_summary()
    rng, day = periods.day_range(tz, 0)
    part = in_range(records, rng.start, rng.end)
    assert today.period == "daily" and today.to_dict()["date"] == day.isoformat()
    assert today.total_calls == len(part) and today.total_tokens == sum(tokens(r) for r in part)
    assert today.total_cost == pytest.approx(sum(r.cost for r in part))
    for model, stats in today.by_model.items():
        assert stats["calls"] == sum(r.model == model for r in part)
    assert monitor.get_daily_summary(days_ago=3).total_calls == len(
        in_range(records, *_bounds(periods.day_range(tz, 3)[0]))
    )
    hour = monitor.get_hourly_summary(hours_ago=2)
    assert hour.total_calls == len(in_range(records, *_bounds(periods.hour_range(tz, 2))))
    month = monitor.get_monthly_summary()
    now = datetime.now(tz)
    assert month.total_calls == len(in_range(records, *_bounds(periods.month_range(tz, now.year, now.month))))
    session = monitor.get_session_stats("session_2")
    mine = [r for r in records if r.session_id == "session_2"]
    assert (session["calls"], session["tokens"]) == (len(mine), sum(tokens(r) for r in mine))
    assert session["cost"] == pytest.approx(sum(r.cost for r in mine))

    top = monitor.get_top_users(limit=3, days=30)
    assert top[0]["user_id"] == "big_spender" and len(top) == 3
    expected = group((r for r in records if r.user_id), lambda r: r.user_id)
    for row in top:
        assert row["calls"] == expected[row["user_id"]]["calls"]
        assert row["cost"] == pytest.approx(expected[row["user_id"]]["cost"])

    trend = monitor.get_cost_trend(days=30)
    assert len(trend) == 30
    by_day: dict[str, float] = defaultdict(float)
    for r in records:
        by_day[datetime.fromtimestamp(r.timestamp, tz).date().isoformat()] += r.cost
    for row in trend:
        assert row["cost"] == pytest.approx(by_day.get(row["date"], 0.0))
    assert trend[0]["cost"] == 0.0  # 30 days back is before the first record

    # new records are seen by the next call
    write_records(records_dir, [UsageRecord(timestamp=time.time(), model="late", cost=1.0, priced=True)], tz)
    assert monitor.get_daily_summary().by_model["late"]["calls"] == 1


def _bounds(rng: periods.TimeRange) -> tuple[float, float]:
    return rng.start, rng.end


def test_export_report_json_and_csv(written: tuple[Path, list[UsageRecord]], tmp_path: Path) -> None:
    records_dir, records = written
    monitor = get_usage_monitor(records_dir=records_dir, timezone=TZ_NAME)
    path = monitor.export_report(output_path=tmp_path / "reports" / "nested" / "monthly_usage.json", days=30)
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["totals"]["calls"] == len(records)
    assert report["totals"]["cost"] == pytest.approx(sum(r.cost for r in records))
    assert report["currency"] == "CNY" and report["usd_cny_rate"] == monitor.settings.usd_cny_rate
    assert len(report["daily"]) == 30 and report["by_user"][0]["user_id"] == "big_spender"
    assert set(report) >= {
        "period",
        "generated_at",
        "by_model",
        "by_function",
        "by_anchor",
        "unpriced_models",
    }
    default = monitor.export_report(days=7)
    assert default.parent == monitor.settings.reports_path and REPORT_NAME_RE.fullmatch(default.name)
    csv_path = monitor.export_report(output_path=tmp_path / "r.csv", days=30)
    rows = list(csv.DictReader(csv_path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0]["section"] == "total" and int(rows[0]["calls"]) == len(records)
    assert {r["section"] for r in rows} == {"total", "model", "function", "user", "anchor", "day"}


def test_original_doc_examples_run_and_print_sensible_numbers(
    written: tuple[Path, list[UsageRecord]],
) -> None:
    records_dir, records = written
    env = {**os.environ, "AI_USAGE_RECORDS_DIR": str(records_dir), "AI_USAGE_TIMEZONE": TZ_NAME}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "original_doc.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(TZ_NAME)
    rng, _ = periods.day_range(tz, 0)
    today = in_range(records, rng.start, rng.end)
    assert f"今日成本 ¥{sum(r.cost for r in today):.4f}" in out
    assert "用户 big_spender 超出配额: ¥5." in out
    week_rng, _ = periods.last_days(tz, 7)
    forecast = sum(r.cost for r in in_range(records, week_rng.start, week_rng.end)) / 7 * 30
    assert f"预计月成本: ¥{forecast:.4f}" in out
    per_model = re.findall(r"^(.+): 平均每次调用成本 ¥([0-9.]+)$", out, re.M)
    assert per_model, out
    for model, avg in per_model:
        mine = [r for r in today if r.model == model]
        assert float(avg) == pytest.approx(sum(r.cost for r in mine) / len(mine), abs=1e-6)
