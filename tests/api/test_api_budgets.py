"""``GET /api/ai_usage/budgets`` on the real app: the records' spend while the ledger has not seen a period,
the ledger's counters once it has, states from the thresholds, the top values of a ``"*"`` budget and how
many more there are. Every figure is computed here by hand from the records the test writes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_usage_monitor.api import create_app
from ai_usage_monitor.budgets.config import period_window
from ai_usage_monitor.budgets.local_ledger import LEDGER_DIR, LEDGER_FILE, LocalLedger
from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord
from tests.api.conftest import make_record, settings_for
from tests.api.helpers import SHANGHAI, Window, day_window, local_client, month_window, settle_clock
from tests.api.test_api_metrics import by_labels, samples
from tests.support.records import write_records

BUDGETS: list[dict[str, Any]] = [
    {"name": "daily-total", "period": "day", "limit": 1.0, "action": "block"},
    {"name": "qwen-max 每日", "period": "day", "limit": 0.2, "scope": {"model": "qwen-max"}},
    {
        "name": "主播月度额度",
        "period": "month",
        "limit": 0.5,
        "scope": {"anchor_id": "*"},
        "thresholds": [0.5, 0.9, 1.0],
    },
    {"name": "per-user hourly", "period": "hour", "limit": 3.0, "scope": {"user_id": "*"}},
]
#: the highest threshold below 1.0 of each budget (the defaults are 0.5, 0.8, 1.0)
WARN_AT = {"daily-total": 0.8, "qwen-max 每日": 0.8, "主播月度额度": 0.9, "per-user hourly": 0.8}
API = "/api/ai_usage/budgets"
approx = pytest.approx


def spend_records(now: datetime) -> list[UsageRecord]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    earlier_today = (midnight + now.timestamp()) / 2
    hour = now.replace(minute=0, second=0, microsecond=0).timestamp()
    last_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() - 1.0
    return [
        make_record(earlier_today, model="qwen-plus", anchor_id="主播-7", cost=0.3),
        make_record(earlier_today, model="qwen-max", anchor_id="主播-7", cost=0.16),
        make_record(
            now.timestamp() - 1.0, model="qwen-max", anchor_id="anchor_2", user_id="user_002", cost=0.05
        ),
        make_record(hour, model="qwen-plus", anchor_id="anchor_3", user_id="user_004", cost=0.01),
        # yesterday's last instant: this month's unless today is the 1st; never today's
        make_record(midnight - 0.001, model="qwen-max", anchor_id="anchor_2", cost=0.5),
        # last month's last second: in no current period
        make_record(last_month, model="qwen-max", anchor_id="主播-7", cost=5.0),
        # no anchor: only the team's and the users' budgets
        make_record(earlier_today, model="qwen-plus", anchor_id=None, user_id="user_003", cost=0.02),
    ]


def window_of(period: str, now: datetime) -> Window:
    if period == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        return Window(start.timestamp(), (start + timedelta(hours=1)).timestamp())
    return day_window(now.date()) if period == "day" else month_window(now.year, now.month)


def hand_spend(records: list[UsageRecord], now: datetime, budget: dict[str, Any]) -> dict[str, float]:
    """The budget's spend per scope value (``""`` without ``"*"``) in its current period."""
    window = window_of(budget["period"], now)
    out: dict[str, float] = {}
    for r in records:
        values = [getattr(r, key) for key in budget.get("scope", {})]
        wanted = list(budget.get("scope", {}).values())
        if r.timestamp not in window or any(
            v is None or w not in ("*", v) for v, w in zip(values, wanted, strict=True)
        ):
            continue
        value = next((v for v, w in zip(values, wanted, strict=True) if w == "*"), "")
        out[value] = out.get(value, 0.0) + (r.cost or 0.0)
    return out


def hand_state(name: str, ratio: float) -> str:
    return "exceeded" if ratio >= 1.0 else "warning" if ratio >= WARN_AT[name] else "ok"


def resets_at(period: str, now: datetime) -> str:
    return datetime.fromtimestamp(window_of(period, now).end, SHANGHAI).isoformat()


@dataclass
class Served:
    settings: Settings
    records: list[UsageRecord]
    now: datetime
    client: TestClient


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    now = settle_clock(margin=30.0)
    records = spend_records(now)
    settings = Settings(**{**settings_for(tmp_path).model_dump(), "budgets": BUDGETS})
    write_records(settings.records_dir, records, SHANGHAI)
    with local_client(create_app(settings)) as client:
        yield Served(settings, records, now, client)


def expected_rows(s: Served, ledger: dict[str, tuple[float, float]] | None = None) -> list[dict[str, Any]]:
    """Every row by hand: settings order, the values of a ``"*"`` budget by spend then name; ``ledger``
    replaces the records' figures of a budget's row by (spent, reserved)."""
    rows = []
    for budget in BUDGETS:
        spend = hand_spend(s.records, s.now, budget)
        for value in sorted(spend, key=lambda v: (-spend[v], v)):
            spent, reserved = (ledger or {}).get(budget["name"], (spend[value], 0.0))
            rows.append(
                {
                    "name": budget["name"],
                    "period": budget["period"],
                    "scope": budget.get("scope", {}),
                    "scope_value": value,
                    "limit": budget["limit"],
                    "spent": pytest.approx(spent),
                    "reserved": pytest.approx(reserved),
                    "ratio": pytest.approx(spent / budget["limit"]),
                    "state": hand_state(budget["name"], spent / budget["limit"]),
                    "resets_at": resets_at(budget["period"], s.now),
                    "action": budget.get("action", "notify"),
                    "source": "ledger" if budget["name"] in (ledger or {}) else "records",
                }
            )
    return rows


def test_periods_the_ledger_has_not_seen_show_the_records_spend(served: Served) -> None:
    answer = served.client.get(API)
    assert answer.status_code == 200
    data = answer.json()
    assert data["currency"] == "CNY" and data["omitted"] == []
    assert data["budgets"] == expected_rows(served)
    rows = {(row["name"], row["scope_value"]): row for row in data["budgets"]}
    # the figures that set the states, by hand: 0.54 of 1.0; 0.21 of 0.2; 0.46 of 0.5 (warning at 0.9)
    assert rows[("daily-total", "")]["spent"] == pytest.approx(0.54)
    assert rows[("daily-total", "")]["state"] == "ok"
    assert rows[("qwen-max 每日", "")]["state"] == "exceeded"
    assert rows[("主播月度额度", "主播-7")]["spent"] == pytest.approx(0.46)
    assert rows[("主播月度额度", "主播-7")]["state"] == "warning"
    # a read creates no ledger
    assert not (served.settings.records_dir / LEDGER_DIR / LEDGER_FILE).exists()


def test_the_ledger_is_the_truth_once_it_has_seen_the_period(served: Served) -> None:
    ledger = LocalLedger(served.settings.records_dir)
    window = period_window(served.now.timestamp(), "day", SHANGHAI)
    ledger.add("daily-total", "", window, 0.7)
    held = ledger.reserve("daily-total", "", window, 0.25, 1.0)
    # a counter of another budget's ended period is not this period's
    yesterday = period_window(served.now.timestamp() - 86_400, "day", SHANGHAI)
    ledger.add("qwen-max 每日", "", yesterday, 9.0)
    ledger.close()
    data = served.client.get(API).json()
    assert data["budgets"] == expected_rows(served, ledger={"daily-total": (0.7, 0.25)})
    assert held.amount == 0.25
    row = data["budgets"][0]
    assert (row["state"], row["source"]) == ("ok", "ledger")  # 0.7 < 0.8: reservations are not spend


def test_a_star_budget_lists_its_top_values_and_counts_the_rest(served: Served) -> None:
    data = served.client.get(API, params={"top": 1}).json()
    anchors = hand_spend(served.records, served.now, BUDGETS[2])
    users = hand_spend(served.records, served.now, BUDGETS[3])
    listed = [(row["name"], row["scope_value"]) for row in data["budgets"] if row["name"] in WARN_AT]
    assert ("主播月度额度", min(anchors, key=lambda a: (-anchors[a], a))) in listed
    assert sum(name == "主播月度额度" for name, _ in listed) == 1
    assert sum(name == "per-user hourly" for name, _ in listed) == 1
    rest = sorted(anchors.values())[:-1]
    omitted = {o["name"]: o for o in data["omitted"]}
    assert omitted["主播月度额度"] == {
        "name": "主播月度额度",
        "limit": 0.5,
        "count": len(anchors) - 1,
        "spent": pytest.approx(sum(rest)),
        "reserved": 0.0,
        "max_ratio": pytest.approx(max(rest) / 0.5),
    }
    assert len(users) >= 2  # user_002 and user_004 spent in this hour
    assert omitted["per-user hourly"]["count"] == len(users) - 1


def test_bad_top_is_a_422_and_no_budgets_an_empty_list(served: Served, tmp_path: Path) -> None:
    answer = served.client.get(API, params={"top": 0})
    assert answer.status_code == 422
    assert "top must be an integer from 1 to 1000" in answer.text
    with local_client(create_app(settings_for(tmp_path / "none"))) as client:
        assert client.get(API).json() == {"currency": "CNY", "budgets": [], "omitted": []}


def test_a_star_budget_nobody_spent_from_is_one_row_without_a_value(tmp_path: Path) -> None:
    budget = {"name": "per-session", "period": "week", "limit": 2.0, "scope": {"session_id": "*"}}
    settings = Settings(**{**settings_for(tmp_path).model_dump(), "budgets": [budget]})
    with local_client(create_app(settings)) as client:
        rows = client.get(API).json()["budgets"]
    assert [(r["name"], r["scope_value"], r["spent"], r["ratio"], r["state"]) for r in rows] == [
        ("per-session", None, 0.0, 0.0, "ok")
    ]


def test_metrics_gauges_fold_values_past_the_top_n_into_other(tmp_path: Path) -> None:
    now = settle_clock(margin=30.0)
    records = spend_records(now)
    settings = Settings(
        **{**settings_for(tmp_path).model_dump(), "budgets": BUDGETS, "metrics_label_top_n": 1}
    )
    write_records(settings.records_dir, records, SHANGHAI)
    with local_client(create_app(settings)) as client:
        text = client.get("/metrics").text
    found = samples(text)
    spent = by_labels(found["ai_usage_budget_spent"], "budget", "scope_value", "currency")
    limit = by_labels(found["ai_usage_budget_limit"], "budget", "scope_value")
    ratio = by_labels(found["ai_usage_budget_ratio"], "budget", "scope_value")
    anchors = hand_spend(records, now, BUDGETS[2])
    top, *rest = sorted(anchors, key=lambda a: (-anchors[a], a))
    day = hand_spend(records, now, BUDGETS[0])[""]
    assert spent[("daily-total", "", "CNY")] == approx(day)
    assert ratio[("daily-total", "")] == approx(day / 1.0)
    assert spent[("主播月度额度", top, "CNY")] == approx(anchors[top])
    assert spent[("主播月度额度", "other", "CNY")] == approx(sum(anchors[a] for a in rest))
    assert ratio[("主播月度额度", "other")] == approx(max(anchors[a] for a in rest) / 0.5)
    assert limit[("主播月度额度", "other")] == limit[("主播月度额度", top)] == 0.5
    assert {key[0] for key in ratio} == {b["name"] for b in BUDGETS}
    assert sum(name == "主播月度额度" for name, _ in ratio) == 2  # the top one and other
    warn = by_labels(found["ai_usage_budget_warning_ratio"], "budget")
    assert warn == {(name,): value for name, value in WARN_AT.items()}
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
