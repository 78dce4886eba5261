"""``ai-usage-monitor budgets``, run as the real console script: the status table and its JSON, figures by
hand from the records the test writes (the same as ``GET /api/ai_usage/budgets``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.helpers import SHANGHAI, settle_clock
from tests.api.test_api_budgets import BUDGETS, hand_spend, hand_state, spend_records
from tests.cli.test_setup_errors import run_cli
from tests.support.records import write_records

CONFIG = """
[[budgets]]
name = "daily-total"
period = "day"
limit = 1.0
action = "block"

[[budgets]]
name = "主播月度额度"
period = "month"
limit = 0.5
scope = { anchor_id = "*" }
thresholds = [0.5, 0.9, 1.0]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "settings.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def test_budgets_json_has_the_figures_by_hand(folder: Path) -> None:
    now = settle_clock(margin=30.0)
    records = spend_records(now)
    write_records(folder / "records", records, SHANGHAI)
    done = run_cli(
        ["budgets", "--records-dir", "records", "--json", "--top", "2"],
        folder,
        AI_USAGE_CONFIG=str(folder / "settings.toml"),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    day = hand_spend(records, now, BUDGETS[0])[""]
    anchors = hand_spend(records, now, BUDGETS[2])
    ranked = sorted(anchors, key=lambda a: (-anchors[a], a))
    got = [(r["name"], r["scope_value"], r["spent"], r["state"], r["source"]) for r in data["budgets"]]
    assert got == [
        ("daily-total", "", pytest.approx(day), hand_state("daily-total", day), "records"),
        *(
            (
                "主播月度额度",
                a,
                pytest.approx(anchors[a]),
                hand_state("主播月度额度", anchors[a] / 0.5),
                "records",
            )
            for a in ranked[:2]
        ),
    ]
    assert [(o["name"], o["count"]) for o in data["omitted"]] == (
        [("主播月度额度", len(ranked) - 2)] if len(ranked) > 2 else []
    )


def test_budgets_table_shows_each_budget_and_its_state(folder: Path) -> None:
    now = settle_clock(margin=30.0)
    records = spend_records(now)
    write_records(folder / "records", records, SHANGHAI)
    done = run_cli(
        ["budgets", "--records-dir", "records"],
        folder,
        AI_USAGE_CONFIG=str(folder / "settings.toml"),
        COLUMNS="200",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].rstrip() == "budgets (CNY)"
    anchors = hand_spend(records, now, BUDGETS[2])
    day = hand_spend(records, now, BUDGETS[0])[""]
    (daily,) = [line for line in lines if "daily-total" in line]
    assert f"{day:,.4f}" in daily and f"{day:.0%}" in daily and hand_state("daily-total", day) in daily
    for anchor, spent in anchors.items():
        (line,) = [line for line in lines if f" {anchor} " in line]
        assert "主播月度额度" in line and f"{spent:,.4f}" in line
        assert hand_state("主播月度额度", spent / 0.5) in line


def test_budgets_without_settings_says_so(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    done = run_cli(["budgets", "--records-dir", "records"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no budgets" in done.stderr and done.stdout == ""
