"""The digest's figures over a fixed record set equal a hand computation (spend, change against the week
before, month to date, top lists), in the daily and the weekly digest; budgets near their limit come from
the real ledger; the message in Chinese and English; the digest settings' one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ai_usage_monitor.budgets.config import period_window
from ai_usage_monitor.budgets.ledger import open_ledger
from ai_usage_monitor.config import SettingsError
from ai_usage_monitor.insights import advise_last_days
from ai_usage_monitor.insights.digest import DigestFacts, build_digest, digest_period, money
from ai_usage_monitor.insights.digest_facts import collect_digest
from ai_usage_monitor.insights.digest_schedule import due_kinds
from ai_usage_monitor.pricing import Pricer
from ai_usage_monitor.store.index import UsageStore
from tests.api.helpers import SHANGHAI
from tests.insights.digest_records import Hand, at, digest_records, digest_settings, hand
from tests.support.records import write_records

SEND_DAY = date(2026, 11, 18)  # a Wednesday
NOW = at(SEND_DAY, 9, 30)
YESTERDAY = SEND_DAY - timedelta(days=1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsageStore]:
    root = tmp_path_factory.mktemp("digest")
    budgets = [
        {"name": "日预算", "period": "day", "limit": 1.0, "thresholds": [0.8, 1.0]},
        {"name": "month-total", "period": "month", "limit": 100.0},
    ]
    settings = digest_settings(root, budgets=budgets)
    write_records(settings.records_dir, digest_records(SEND_DAY), SHANGHAI)
    ledger = open_ledger(settings)
    try:  # today's day counter at 85%, the month's at 10%, yesterday's (ended) over its limit
        ledger.add("日预算", "", period_window(NOW, "day", SHANGHAI), 0.85)
        ledger.add("month-total", "", period_window(NOW, "month", SHANGHAI), 10.0)
        ledger.add("日预算", "", period_window(NOW - 86400, "day", SHANGHAI), 2.0)
    finally:
        ledger.close()
    with UsageStore(settings) as opened:
        opened.refresh()
        yield opened


def _check_figures(facts: DigestFacts, want: Hand) -> None:
    assert facts.spent == pytest.approx(want.spent)
    assert facts.calls == want.calls
    assert facts.previous_spent == pytest.approx(want.previous)
    assert facts.change == pytest.approx((want.spent - want.previous) / want.previous)
    assert facts.month_to_date == pytest.approx(want.month_to_date)
    for got, expected in (
        (facts.top_models, want.models),
        (facts.top_functions, want.functions),
        (facts.top_anchors, want.anchors),
    ):
        assert [(r.name, r.calls) for r in got] == [(n, c) for n, _, c in expected]
        assert [r.cost for r in got] == pytest.approx([cost for _, cost, _ in expected])


def test_daily_figures_equal_the_hand_computation(store: UsageStore) -> None:
    facts = collect_digest(store, "daily", now=NOW)
    assert (facts.period.first, facts.period.last) == (YESTERDAY, YESTERDAY)
    assert facts.period.key == f"digest:daily:{YESTERDAY.isoformat()}"
    want = hand(digest_records(SEND_DAY), YESTERDAY, YESTERDAY)
    # by hand: 0.30 + 0.30 + 0.50 + 0.05 + 0.01 + 0.02 = 1.18 over 6 calls, against 0.40 a week before
    assert want.spent == pytest.approx(1.18) and want.previous == pytest.approx(0.40)
    _check_figures(facts, want)
    assert [r.name for r in facts.top_anchors] == ["主播甲", "主播乙", "主播丙"]


def test_weekly_figures_equal_the_hand_computation(store: UsageStore) -> None:
    facts = collect_digest(store, "weekly", now=NOW)
    first = YESTERDAY - timedelta(days=6)
    assert (facts.period.first, facts.period.last) == (first, YESTERDAY)
    iso = YESTERDAY.isocalendar()
    assert facts.period.key == f"digest:weekly:{iso.year}-W{iso.week:02d}"
    want = hand(digest_records(SEND_DAY), first, YESTERDAY)
    # by hand: 1.18 + 6 × 0.11 against 0.40 + 6 × 0.05
    assert want.spent == pytest.approx(1.84) and want.previous == pytest.approx(0.70)
    _check_figures(facts, want)


def test_budgets_near_their_limit_and_the_top_advice(store: UsageStore) -> None:
    facts = collect_digest(store, "daily", now=NOW)
    assert [(b.name, b.period, b.spent, b.limit) for b in facts.budgets] == [
        ("日预算", period_window(NOW, "day", SHANGHAI).label, 0.85, 1.0)
    ]
    advice = advise_last_days(store, Pricer(store.settings), 30, now=NOW)
    assert advice, "the record set should give advice"
    assert list(facts.advice) == advice[:3]
    assert facts.forecast is not None
    assert facts.forecast.low <= facts.forecast.expected <= facts.forecast.high


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_message_shows_the_hand_figures(store: UsageStore, language: str) -> None:
    facts = collect_digest(store, "daily", now=NOW)
    message = build_digest(facts, "zh" if language == "zh" else "en")
    want = hand(digest_records(SEND_DAY), YESTERDAY, YESTERDAY)
    title = "AI 用量日报" if language == "zh" else "AI usage daily digest"
    assert message.title == f"{title} {YESTERDAY.isoformat()}"
    assert message.key == f"digest:daily:{YESTERDAY.isoformat()}"
    body = message.body
    change = (want.spent - want.previous) / want.previous * 100
    assert f"¥{want.spent:,.2f}" in body and f"{change:+.1f}%" in body and "+195.0%" in body
    assert f"¥{want.month_to_date:,.2f}" in body or f"¥{want.month_to_date:.4f}" in body
    for name, cost, _ in [*want.models, *want.functions, *want.anchors]:
        assert f"{name}: ¥{cost:.4f}" in body
    models_title = "花费最多的模型" if language == "zh" else "Top models"
    models = body.split(f"**{models_title}**\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(":")[0] for line in models] == ["1. qwen-plus", "2. qwen-max", "3. qwen-turbo"]
    assert ("接近上限的预算" if language == "zh" else "Budgets near their limit") in body
    assert "日预算 (2026-11-18): ¥0.8500 / ¥1.00 (85%)" in body
    assert ("省钱建议" if language == "zh" else "Ways to spend less") in body
    assert facts.forecast is not None and facts.forecast.method in body
    assert message.markdown().startswith(f"### {message.title}\n\n- **")


def test_money_keeps_small_amounts_visible() -> None:
    assert money(1234.5, "CNY") == "¥1,234.50"
    assert money(0.0123, "USD") == "$0.0123"


def test_no_change_base_is_said_not_divided() -> None:
    period = digest_period("daily", SEND_DAY)
    facts = DigestFacts(period, "CNY", 1.0, 2, 0.0, 1.0, (), (), (), None, (), ())
    assert facts.change is None
    assert "上周同期无花费" in build_digest(facts, "zh").body
    assert "nothing spent the week before" in build_digest(facts, "en").body


def test_weekly_digest_is_due_on_its_weekday_only(tmp_path: Path) -> None:
    settings = digest_settings(tmp_path, digest_weekly_day="wednesday", digest_time="09:00")
    assert due_kinds(settings, at(SEND_DAY, 8, 59)) == []
    assert due_kinds(settings, at(SEND_DAY, 9, 0)) == ["daily", "weekly"]
    for back in range(1, 7):
        assert due_kinds(settings, at(SEND_DAY - timedelta(days=back), 9, 0)) == ["daily"]
    never = digest_settings(tmp_path, digest_weekly_day="never")
    assert due_kinds(never, at(SEND_DAY, 23, 0)) == ["daily"]
    assert datetime.fromtimestamp(at(SEND_DAY, 9), SHANGHAI).strftime("%A") == "Wednesday"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"digest_time": "24:00"}, "digest_time"),
        ({"digest_time": "9h"}, "expected a local time as HH:MM"),
        ({"digest_channels": ["team"]}, "no channel named 'team'"),
        ({"digest_weekly_day": "funday"}, "digest_weekly_day"),
        ({"digest_language": "fr"}, "digest_language"),
    ],
)
def test_bad_digest_settings_are_one_line(
    tmp_path: Path, overrides: dict[str, object], expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        digest_settings(tmp_path, **overrides)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_digest_settings_defaults_and_normalising(tmp_path: Path) -> None:
    settings = digest_settings(tmp_path, digest_time="7:05", digest_weekly_day="Friday")
    assert (settings.digest_time, settings.digest_weekly_day) == ("07:05", "friday")
    default = digest_settings(tmp_path)
    assert (default.digest_time, default.digest_weekly_day, default.digest_channels) == (
        "09:00",
        "monday",
        [],
    )
    assert default.digest_language is None
