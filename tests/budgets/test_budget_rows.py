"""``budget_rows``: the rows the surfaces show, one per budget or per scope value, with spend already
in the records counted and the state from the thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ai_usage_monitor import record_ai_usage
from ai_usage_monitor.budgets.local_ledger import LocalLedger
from ai_usage_monitor.budgets.status import budget_rows
from ai_usage_monitor.config import Settings
from tests.budgets.guard_support import guarded


def test_rows_per_budget_and_per_scope_value(tmp_path: Path) -> None:
    budgets = [
        {"name": "日预算", "limit": 50.0, "thresholds": [0.5, 0.8, 1.0], "action": "block"},
        {"name": "主播月度", "period": "month", "limit": 10.0, "scope": {"anchor_id": "*"}},
    ]
    with guarded(tmp_path, []):  # spend recorded by a run without budgets: the rows count it
        record_ai_usage("qwen-plus", provider="dashscope", cost=41.0, anchor_id="主播-7")
        record_ai_usage("qwen-plus", provider="dashscope", cost=2.0, anchor_id="主播-8")
    settings = Settings(records_dir=tmp_path, timezone="Asia/Shanghai", budgets=budgets)
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    tomorrow = (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).timestamp()
    rows = budget_rows(settings, LocalLedger(tmp_path), now.timestamp())
    assert [(r["name"], r["scope_value"]) for r in rows] == [
        ("日预算", ""),
        ("主播月度", "主播-7"),
        ("主播月度", "主播-8"),
    ]
    day, anchor_7, anchor_8 = rows
    assert day == {
        "name": "日预算",
        "period": now.date().isoformat(),
        "scope": {},
        "scope_value": "",
        "limit": 50.0,
        "spent": pytest.approx(43.0),
        "reserved": 0.0,
        "ratio": pytest.approx(43.0 / 50.0),
        "state": "warning",
        "resets_at": tomorrow,
        "action": "block",
    }
    assert (anchor_7["spent"], anchor_7["state"], anchor_7["period"]) == (
        41.0,
        "exceeded",
        now.strftime("%Y-%m"),
    )
    assert (anchor_8["ratio"], anchor_8["state"], anchor_8["scope"]) == (0.2, "ok", {"anchor_id": "*"})
