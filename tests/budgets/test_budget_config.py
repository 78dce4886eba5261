"""Budget settings: bad ones refused in one line naming budget and field; period windows; scope values."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor.budgets.config import Budget, PeriodClock, period_window, scope_value
from ai_usage_monitor.config import Settings, SettingsError
from ai_usage_monitor.records import UsageRecord

BERLIN = ZoneInfo("Europe/Berlin")


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AI_USAGE_CONFIG", str(path))


def test_budgets_load_from_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        tmp_path,
        """
[[budgets]]
name = "daily-total"
period = "day"
limit = 50.0
scope = {}
thresholds = [0.8, 0.5, 1.0]
action = "downgrade"
downgrade_to = "qwen-flash"
channels = ["ops"]

[channels.ops]
type = "log"

[[budgets]]
name = "主播月度额度"
period = "month"
limit = 300
scope = {anchor_id = "*", "tag.team" = "直播"}
action = "block"
""",
        monkeypatch,
    )
    settings = Settings()
    daily, monthly = settings.budgets
    assert (daily.name, daily.period, daily.limit, daily.action, daily.downgrade_to) == (
        "daily-total",
        "day",
        50.0,
        "downgrade",
        "qwen-flash",
    )
    assert daily.thresholds == (0.5, 0.8, 1.0)
    assert monthly.name == "主播月度额度"
    assert monthly.per_value_keys == ("anchor_id",)
    assert Settings(budgets=[]).budgets == []


BAD_BUDGETS = [
    ('name = "b1"\nlimit = 5\nscope = {usr_id = "*"}', "budget 'b1': field scope: unknown key 'usr_id'"),
    ('name = "b2"\nlimit = -1', "budget 'b2': field limit: "),
    ('name = "b3"\nlimit = 5\nperiod = "fortnight"', "budget 'b3': field period: "),
    ('name = "b4"\nlimit = 5\nthresholds = [0.5, 0]', "budget 'b4': field thresholds: "),
    ('name = "b5"\nlimit = 5\naction = "block"\nlimitt = 3', "budget 'b5': field limitt: "),
    ('name = "b6"\nlimit = 5\naction = "downgrade"', "budget 'b6': field downgrade_to: "),
    ("limit = 5", "budget #1: field name: "),
]


@pytest.mark.parametrize(("table", "expected"), BAD_BUDGETS)
def test_a_bad_budget_is_one_line_naming_budget_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, expected: str
) -> None:
    write_config(tmp_path, f"[[budgets]]\n{table}\n", monkeypatch)
    with pytest.raises(SettingsError) as exc:
        Settings()
    message = str(exc.value)
    assert "\n" not in message
    assert expected in message
    assert "key 'budgets' in the TOML file" in message


def test_duplicate_budget_names_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        tmp_path, '[[budgets]]\nname = "x"\nlimit = 1\n[[budgets]]\nname = "x"\nlimit = 2\n', monkeypatch
    )
    with pytest.raises(SettingsError, match=r"budget 'x': field name: duplicate budget name") as exc:
        Settings()
    assert "\n" not in str(exc.value)


def test_a_budget_naming_an_undefined_channel_is_refused() -> None:
    budget: Any = {"name": "daily", "limit": 5, "channels": ["ops", "dev"]}
    with pytest.raises(SettingsError, match=r"budget 'daily': field channels: unknown channel 'dev'") as exc:
        Settings(channels={"ops": {"type": "log"}}, budgets=[budget])
    assert "\n" not in str(exc.value)
    with pytest.raises(SettingsError, match=r"budget 'daily': field channels: unknown channel 'ops'"):
        Settings(budgets=[budget])
    both = {"ops": {"type": "log"}, "dev": {"type": "log"}}
    assert Settings(channels=both, budgets=[budget]).budgets[0].channels == ("ops", "dev")


def test_budget_store_must_be_a_redis_url() -> None:
    assert Settings(budget_store="redis://127.0.0.1:6379/0").budget_store == "redis://127.0.0.1:6379/0"
    with pytest.raises(SettingsError, match="budget_store"):
        Settings(budget_store="memcached://x")


def ts(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def test_days_across_dst_last_23_and_25_hours() -> None:
    spring = period_window(ts("2026-03-29T12:00"), "day", BERLIN)
    assert (spring.start, spring.end) == (ts("2026-03-29T00:00"), ts("2026-03-30T00:00"))
    assert spring.end - spring.start == 23 * 3600
    autumn = period_window(ts("2026-10-25T23:59"), "day", BERLIN)
    assert autumn.end - autumn.start == 25 * 3600
    assert autumn.label == "2026-10-25"


def test_the_repeated_hour_of_a_fall_back_is_two_windows() -> None:
    first = period_window(ts("2026-10-25T00:30", ZoneInfo("UTC")), "hour", BERLIN)  # 02:30 CEST
    second = period_window(ts("2026-10-25T01:30", ZoneInfo("UTC")), "hour", BERLIN)  # 02:30 CET
    assert first.end == second.start
    assert first.label != second.label
    assert (first.end - first.start, second.end - second.start) == (3600, 3600)
    skipped = period_window(ts("2026-03-29T01:30"), "hour", BERLIN)  # 01:00-02:00 CET, then 03:00 CEST
    assert skipped.end == ts("2026-03-29T03:00")


def test_weeks_start_on_monday_and_months_end_at_month_ends() -> None:
    week = period_window(ts("2026-03-29T12:00"), "week", BERLIN)  # a Sunday, the DST change
    assert (week.start, week.end) == (ts("2026-03-23T00:00"), ts("2026-03-30T00:00"))
    assert week.end - week.start == 7 * 86400 - 3600
    assert week.label == "2026-W13"
    assert period_window(ts("2026-12-31T23:59:59"), "month", BERLIN).end == ts("2027-01-01T00:00")
    february = period_window(ts("2028-02-29T10:00"), "month", BERLIN)
    assert (february.start, february.end, february.label) == (
        ts("2028-02-01T00:00"),
        ts("2028-03-01T00:00"),
        "2028-02",
    )
    january = period_window(ts("2026-01-31T23:00"), "month", BERLIN)
    assert january.end == ts("2026-02-01T00:00")
    # one instant later is the next window, whatever the period
    for period in ("hour", "day", "week", "month"):
        window = period_window(ts("2026-10-25T02:30"), period, BERLIN)
        assert period_window(window.end, period, BERLIN).start == window.end


def test_scope_values_of_records() -> None:
    record = UsageRecord(
        timestamp=0,
        model="qwen-plus",
        provider="dashscope",
        anchor_id="主播-7",
        user_id="u1",
        tags={"team": "直播"},
    )
    assert scope_value(Budget(name="all", limit=1), record) == ""
    assert scope_value(Budget(name="a", limit=1, scope={"anchor_id": "*"}), record) == "主播-7"
    assert (
        scope_value(Budget(name="t", limit=1, scope={"tag.team": "直播", "model": "*"}), record)
        == "qwen-plus"
    )
    assert scope_value(Budget(name="two", limit=1, scope={"user_id": "*", "anchor_id": "*"}), record) == (
        "user_id=u1,anchor_id=主播-7"
    )
    assert scope_value(Budget(name="m", limit=1, scope={"model": "qwen-max"}), record) is None
    assert scope_value(Budget(name="s", limit=1, scope={"session_id": "*"}), record) is None
    assert (
        scope_value(Budget(name="d", limit=1, scope={"function": "*"}), {"function": "实时分析"})
        == "实时分析"
    )


def test_the_period_clock_gives_the_windows_of_period_window() -> None:
    clock = PeriodClock("day", BERLIN)
    instants = [
        ts("2026-10-24T23:59:59"),
        ts("2026-10-25T00:00"),
        ts("2026-10-25T12:00"),
        ts("2026-10-26T00:00"),
    ]
    for instant in [*instants, *reversed(instants)]:
        assert clock.window(instant) == period_window(instant, "day", BERLIN)
