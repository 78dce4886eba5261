"""``GET /api/ai_usage/forecast`` on the real app over records the test writes: a short history answered at
the month-to-date pace (every figure computed here by hand), a longer one by statsmodels, scopes, budgets,
and 422s."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor.api import create_app
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.api.conftest import make_record, settings_for
from tests.api.helpers import SHANGHAI, local_client, settle_clock
from tests.support.records import write_records


def at(day: date, hour: int) -> float:
    return datetime(day.year, day.month, day.day, hour, 10, tzinfo=SHANGHAI).timestamp()


def short_history(now: datetime) -> list[UsageRecord]:
    """Two past days and today, two models and functions, at hours other than the current one."""
    today = now.date()
    quiet = [(now.hour + 6) % 24, (now.hour + 12) % 24]
    records = []
    for back, costs in ((2, (0.4, 0.2)), (1, (0.6, 0.3))):
        day = today - timedelta(days=back)
        records += [
            make_record(at(day, quiet[0]), model="qwen-plus", function="实时分析", cost=costs[0]),
            make_record(at(day, quiet[1]), model="qwen-max", function="话术生成", cost=costs[1]),
        ]
    midnight = datetime(today.year, today.month, today.day, tzinfo=SHANGHAI).timestamp()
    records.append(make_record(midnight + (now.timestamp() - midnight) / 2, model="qwen-plus", cost=0.05))
    return records


def hand_forecast(records: list[UsageRecord], now: datetime, key: str | None) -> dict[str, float]:
    """The month-to-date pace rule, computed from the records (``key``: a model, or ``None``: all)."""
    today = now.date()
    per_day: dict[date, float] = defaultdict(float)
    for r in records:
        if key is None or r.model == key:
            per_day[datetime.fromtimestamp(r.timestamp, SHANGHAI).date()] += r.cost or 0.0
    all_profile = [0.0] * 24
    for r in records:
        local = datetime.fromtimestamp(r.timestamp, SHANGHAI)
        if local.date() < today:
            all_profile[local.hour] += r.cost or 0.0
    share = sum(all_profile[: now.hour]) / sum(all_profile)  # the current hour has no cost in the profile
    past = {d: c for d, c in per_day.items() if d < today}
    so_far = per_day.get(today, 0.0)
    n = (today - min(past)).days
    rate = (sum(past.values()) + so_far) / max(n + share, 1.0)
    before = sum(c for d, c in past.items() if d.month == today.month)
    today_total = so_far + (1 - share) * (so_far + (1 - share) * rate)
    days_after = calendar.monthrange(today.year, today.month)[1] - today.day
    expected = before + today_total + rate * days_after
    return {
        "month_to_date": before + so_far,
        "expected": expected,
        "low": before + so_far,
        "high": 2 * expected - (before + so_far),
        "today": today_total,
        "rate": rate,
    }


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("forecast")
    now = settle_clock(margin=60.0)
    records = short_history(now)
    budgets = [
        {"name": "团队月度", "period": "month", "limit": 1000.0},
        {"name": "max", "period": "month", "limit": 0.0, "scope": {"model": "qwen-max"}},
        {"name": "per-anchor", "period": "month", "limit": 10.0, "scope": {"anchor_id": "*"}},
    ]
    settings = Settings(**{**settings_for(root).model_dump(), "budgets": budgets})
    write_records(settings.records_dir, records, SHANGHAI)
    with local_client(create_app(settings)) as client:
        yield now, records, client


def test_short_history_figures_equal_the_hand_computation(short: Any) -> None:
    now, records, client = short
    response = client.get("/api/ai_usage/forecast", params={"scope": "model"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["period"], data["currency"], data["scope"]) == ("month", "CNY", "model")
    assert [e["key"] for e in data["forecast"]] == ["all", "qwen-plus", "qwen-max"]
    for entry in data["forecast"]:
        hand = hand_forecast(records, now, None if entry["key"] == "all" else entry["key"])
        assert entry["method"] == "month_to_date_only"
        for field in ("month_to_date", "expected", "low", "high"):
            assert entry[field] == pytest.approx(hand[field], rel=1e-9), (entry["key"], field)
        assert entry["today"]["expected"] == pytest.approx(hand["today"], rel=1e-9)
    team = hand_forecast(records, now, None)
    assert data["month_to_date"] == pytest.approx(team["month_to_date"])
    assert data["today"]["spent"] == pytest.approx(0.05)
    assert data["daily"][0]["date"] == now.date().isoformat()
    assert data["daily"][-1]["expected"] == pytest.approx(team["rate"])


def test_budgets_run_out_at_the_current_pace(short: Any) -> None:
    now, _records, client = short
    budgets = client.get("/api/ai_usage/forecast").json()["budgets"]
    # 1000 CNY is far beyond this month; a zero budget of qwen-max is already spent today
    assert budgets == [
        {"name": "团队月度", "runs_out_at": None},
        {"name": "max", "runs_out_at": now.date().isoformat()},
    ]


def test_budgets_are_empty_without_budget_settings(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, [make_record(settle_clock().timestamp() - 30)], SHANGHAI)
    with local_client(create_app(settings)) as client:
        data = client.get("/api/ai_usage/forecast?scope=function").json()
    assert data["budgets"] == []
    assert [e["key"] for e in data["forecast"]] == ["all", "实时分析"]


@pytest.mark.parametrize("scope", ["user", "", "ALL"])
def test_bad_scope_is_a_422_naming_the_choices(short: Any, scope: str) -> None:
    response = short[2].get("/api/ai_usage/forecast", params={"scope": scope})
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert all(f"'{name}'" in message for name in ("all", "model", "function", "anchor"))


def test_weeks_of_history_are_forecast_by_holt_winters(tmp_path: Path) -> None:
    now = settle_clock(margin=60.0)
    today = now.date()
    hour = (now.hour + 12) % 24
    records = [
        make_record(
            at(today - timedelta(days=back), hour), cost=1.0 + (back % 7 == 0) + 0.01 * back, anchor_id=a
        )
        for back in range(1, 36)
        for a in ("anchor_1", "anchor_2")
    ]
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, records, SHANGHAI)
    with local_client(create_app(settings)) as client:
        data = client.get("/api/ai_usage/forecast?scope=anchor").json()
    spent = sum(
        r.cost or 0.0 for r in records if datetime.fromtimestamp(r.timestamp, SHANGHAI).month == today.month
    )
    entries = {e["key"]: e for e in data["forecast"]}
    assert set(entries) == {"all", "anchor_1", "anchor_2"}
    assert entries["all"]["method"] == "holt_winters"
    assert entries["all"]["month_to_date"] == pytest.approx(spent)
    for entry in entries.values():
        assert entry["low"] <= entry["expected"] <= entry["high"]
        assert entry["expected"] >= entry["month_to_date"]


def decile(values: list[float], q: float) -> float:
    """The ``q`` quantile interpolated between order statistics."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lo = int(position)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo)


def test_a_week_of_history_is_the_recent_mean_computed_by_hand(tmp_path: Path) -> None:
    now = settle_clock(margin=60.0)
    today = now.date()
    early, late = (now.hour + 6) % 24, (now.hour + 12) % 24
    costs = [(0.2 + 0.03 * back, 0.1 + 0.05 * (back % 3)) for back in range(8, 0, -1)]  # oldest first
    records = []
    for back, (a, b) in zip(range(8, 0, -1), costs, strict=True):
        day = today - timedelta(days=back)
        records += [make_record(at(day, early), cost=a), make_record(at(day, late), cost=b)]
    records.append(make_record(now.timestamp() - 20, cost=0.07))
    settings = settings_for(tmp_path)
    write_records(settings.records_dir, records, SHANGHAI)
    with local_client(create_app(settings)) as client:
        (entry,) = client.get("/api/ai_usage/forecast").json()["forecast"]
    # by hand: the hourly profile puts sum(a) at `early` and sum(b) at `late`; the current hour has none
    series = [a + b for a, b in costs]
    total_a, total_b = sum(a for a, _ in costs), sum(b for _, b in costs)
    share = ((total_a if early < now.hour else 0) + (total_b if late < now.hour else 0)) / (total_a + total_b)
    level = sum(series[-7:]) / 7
    errors = [cost - level for cost in series[-7:]]  # one past error only: the last week's spread instead
    so_far = 0.07
    today_total = so_far + (1 - share) * (so_far + (1 - share) * level)
    before = sum(c for back, c in zip(range(8, 0, -1), series, strict=True) if back < today.day)
    after = calendar.monthrange(today.year, today.month)[1] - today.day
    expected = before + today_total + level * after
    weights = [(1 - share) ** 2] + [1.0] * after
    scale = ((sum(w * w for w in weights) + sum(weights) ** 2 / 7) / (1 + 1 / 7)) ** 0.5
    assert entry["method"] == "recent_mean"
    assert entry["month_to_date"] == pytest.approx(before + so_far, rel=1e-9)
    assert entry["expected"] == pytest.approx(expected, rel=1e-9)
    assert entry["low"] == pytest.approx(
        max(expected + decile(errors, 0.1) * scale, before + so_far), rel=1e-9
    )
    assert entry["high"] == pytest.approx(expected + decile(errors, 0.9) * scale, rel=1e-9)
    assert entry["today"]["expected"] == pytest.approx(today_total, rel=1e-9)
