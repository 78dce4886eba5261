"""``ai-usage-monitor digest``: ``--print`` shows yesterday's digest (Chinese and English, the hand figures)
without sending anything; ``--send`` delivers it to a local robot once, a second ``--send`` says it went."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ai_usage_monitor.cli import app
from ai_usage_monitor.notify import delivery_log_path, shutdown_outboxes
from tests.api.helpers import SHANGHAI, settle_clock
from tests.insights.digest_records import digest_records, hand
from tests.support.records import write_records
from tests.support.robots import RobotReceiver, robot_receiver


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AI_USAGE_TIMEZONE", "Asia/Shanghai")
    for name in ("AI_USAGE_RECORDS_DIR", "AI_USAGE_INDEX_DIR", "AI_USAGE_API_TOKEN", "AI_USAGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    yield
    shutdown_outboxes()


@pytest.fixture
def records(tmp_path: Path) -> Path:
    settle_clock(margin=30.0)
    write_records(tmp_path / "records", digest_records(datetime.now(SHANGHAI).date()), SHANGHAI)
    return tmp_path / "records"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["digest", *args])
    return result.exit_code, result.output


#: per language: the title, the spend line, the models heading and the calls unit (one, several)
_EXPECTED = {
    "zh": (
        "AI 用量日报",
        "**昨日花费**: ¥{spent:,.2f} ({calls} 次调用)",
        "**花费最多的模型**",
        ("次调用", "次调用"),
    ),
    "en": (
        "AI usage daily digest",
        "**Spent yesterday**: ¥{spent:,.2f} ({calls} calls)",
        "**Top models**",
        ("call", "calls"),
    ),
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_print_shows_yesterdays_digest(env: None, records: Path, language: str) -> None:
    title, spent, models, units = _EXPECTED[language]
    today = datetime.now(SHANGHAI).date()
    yesterday = today - timedelta(days=1)
    want = hand(digest_records(today), yesterday, yesterday)
    code, output = _run("--print", "--language", language, "--records-dir", str(records))
    assert code == 0, output
    assert f"### {title} {yesterday}" in output
    assert spent.format(spent=want.spent, calls=want.calls) in output
    change = (want.spent - want.previous) / want.previous * 100
    assert f"{change:+.1f}%" in output
    lines = output.split(f"{models}\n", 1)[1].splitlines()[:3]
    assert lines == [
        f"{i}. {name}: ¥{cost:.4f} ({calls} {units[calls > 1]}, {cost / want.spent * 100:.0f}%)"
        for i, (name, cost, calls) in enumerate(want.models, 1)
    ]
    assert not delivery_log_path(records).exists()  # nothing sent, not even queued


def test_print_weekly(env: None, records: Path) -> None:
    yesterday = datetime.now(SHANGHAI).date() - timedelta(days=1)
    first = yesterday - timedelta(days=6)
    want = hand(digest_records(yesterday + timedelta(days=1)), first, yesterday)
    code, output = _run("--print", "--weekly", "--language", "en", "--records-dir", str(records))
    assert code == 0, output
    assert f"AI usage weekly digest {first} – {yesterday}" in output
    assert f"**Spent in the 7 days**: ¥{want.spent:,.2f} ({want.calls} calls)" in output


@pytest.fixture
def robot() -> Iterator[RobotReceiver]:
    with robot_receiver("wecom") as receiver:
        yield receiver


def test_send_delivers_once(
    env: None, records: Path, robot: RobotReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'digest_channels = ["群"]\n[channels."群"]\ntype = "wecom"\nurl = "{robot.url}"\n', encoding="utf-8"
    )
    monkeypatch.setenv("AI_USAGE_CONFIG", str(config))
    key = f"digest:daily:{datetime.now(SHANGHAI).date() - timedelta(days=1)}"
    code, output = _run("--send", "--records-dir", str(records))
    assert code == 0, output
    assert f"{key} → 群: delivered" in output
    assert len(robot.accepted) == 1
    assert "AI 用量日报" in robot.accepted[0]["body"]["markdown"]["content"]
    code, output = _run("--send", "--records-dir", str(records))
    assert code == 0, output
    assert f"{key} → 群: delivered (queued before: not sent again)" in output
    assert robot.requests == 1


def test_send_without_channels_and_a_missing_mode_are_refused(env: None, records: Path) -> None:
    code, output = _run("--send", "--records-dir", str(records))
    assert code == 2 and "no digest_channels are configured" in output
    code, output = _run("--records-dir", str(records))
    assert code == 2 and "exactly one of --print and --send" in output
