"""Bad numbers are refused on write (not written, logged once per kind, counted as ``invalid`` drops), and
``record_ai_usage`` never raises into user code unless ``raise_internal_errors`` is set."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor import record_ai_usage
from ai_usage_monitor.config import Settings
from ai_usage_monitor.exporter.drops import read_ledgers
from ai_usage_monitor.internal import set_raise_internal_errors
from ai_usage_monitor.recorder import Recorder, set_recorder
from ai_usage_monitor.records import UsageRecord, validate_record
from tests.support.records import read_records

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"timestamp": math.nan}, "timestamp"),
        ({"timestamp": math.inf}, "timestamp"),
        ({"timestamp": -1.0}, "timestamp"),
        ({"timestamp": 1.7e12}, "timestamp"),  # milliseconds are not seconds
        ({"timestamp": "1700000000"}, "timestamp"),
        ({"cost": math.nan}, "cost"),
        ({"cost": -math.inf}, "cost"),
        ({"cost": -0.01}, "cost"),
        ({"duration_ms": math.nan}, "duration_ms"),
        ({"duration_ms": -5.0}, "duration_ms"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": 2.5}, "output_tokens"),
        ({"total_tokens": True}, "total_tokens"),
        ({"cached_tokens": "3"}, "cached_tokens"),
        ({"reasoning_tokens": -2}, "reasoning_tokens"),
        ({"cache_write_tokens": math.nan}, "cache_write_tokens"),
    ],
)
def test_validate_record_names_the_bad_field(fields: dict[str, Any], problem: str) -> None:
    values: dict[str, Any] = {"timestamp": 1.7e9, "input_tokens": 10, "output_tokens": 5, "cost": 0.1}
    values.update(fields)
    assert validate_record(UsageRecord(**values)) == problem


def test_validate_record_accepts_sound_records() -> None:
    assert validate_record(UsageRecord(timestamp=0.0)) is None
    assert validate_record(UsageRecord(timestamp=99_999_999_999.0, cost=0, duration_ms=0)) is None
    sound = UsageRecord(timestamp=1.7e9, input_tokens=0, output_tokens=3, total_tokens=3, cost=0.2)
    assert validate_record(sound) is None


@pytest.fixture
def lenient(tmp_path: Path) -> Iterator[Recorder]:
    """A recorder with ``raise_internal_errors`` off, as in production."""
    recorder = Recorder(Settings(records_dir=tmp_path, timezone="Asia/Shanghai"))
    previous = set_recorder(recorder)
    set_raise_internal_errors(False)
    try:
        yield recorder
    finally:
        set_raise_internal_errors(True)
        set_recorder(previous)
        recorder.close()


def test_record_ai_usage_never_raises_and_refuses_bad_numbers(
    lenient: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ai_usage_monitor"):
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1, duration_ms=math.nan)
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1, duration_ms=math.nan)
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1, timestamp=math.inf)
        record_ai_usage(model="qwen-plus", input_tokens=-5, output_tokens=1)
        record_ai_usage(model="qwen-plus", input_tokens="many", output_tokens=1)  # type: ignore[arg-type]
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1, cost="x")  # type: ignore[arg-type]
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1, cost=math.nan)
        record_ai_usage(model="qwen-plus", input_tokens=3, output_tokens=4, duration_ms=12.0)
    assert [r["input_tokens"] for r in read_records(tmp_path)] == [3]
    assert lenient.exporter.ledger.counts == {"write_failed": 0, "invalid": 7}
    refusals = [r.message for r in caplog.records if "is not written" in r.getMessage()]
    assert len(refusals) == 4  # duration_ms, timestamp, input_tokens, cost: once per kind
    lenient.exporter.ledger.flush()
    [ledger] = read_ledgers(tmp_path).values()
    assert ledger["counts"]["invalid"] == 7 and "invalid" in ledger["last_error"]


def test_a_timestamp_in_milliseconds_is_converted(lenient: Recorder, tmp_path: Path) -> None:
    now = time.time()
    returned = record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1, timestamp=now * 1000)
    [rec] = read_records(tmp_path)
    assert rec["timestamp"] == pytest.approx(now) and returned.timestamp == pytest.approx(now)


def test_bad_numbers_raise_nothing_even_when_internal_errors_are_raised(tmp_path: Path) -> None:
    """Refusing a bad record is not an internal error: the strict test setting does not make it raise."""
    recorder = Recorder(Settings(records_dir=tmp_path, raise_internal_errors=True))
    previous = set_recorder(recorder)
    try:
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1, duration_ms=math.nan)
    finally:
        set_recorder(previous)
        recorder.close()
    assert read_records(tmp_path) == [] and recorder.dropped == 1


def _child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    bad = tmp_path / "prices.toml"
    bad.write_text("this is [not a pricing file", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AI_USAGE_", "OTEL_"))}
    env.update(
        AI_USAGE_RECORDS_DIR=str(tmp_path / "records"),
        AI_USAGE_PRICING_FILE=str(bad),
        AI_USAGE_TIMEZONE="Asia/Shanghai",
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def test_invalid_pricing_file_without_instrument_still_records(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from ai_usage_monitor import record_ai_usage
        for i in range(3):
            record_ai_usage(model="qwen-plus", function="实时分析", input_tokens=100 + i, output_tokens=10)
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=_child_env(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    records = read_records(tmp_path / "records")
    assert [r["input_tokens"] for r in records] == [100, 101, 102]
    assert all(r["function"] == "实时分析" for r in records)
    assert done.stderr.count("loading the pricing file") == 1


def test_opentelemetry_instrument_with_invalid_pricing_file_records_calls(
    tmp_path: Path, fake_provider: Any
) -> None:
    script = textwrap.dedent(
        f"""
        import openai
        client = openai.OpenAI(base_url={fake_provider.openai_base_url!r}, api_key="sk-test", max_retries=0)
        for _ in range(2):
            messages = [{{"role": "user", "content": "hi"}}]
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        print("done")
        """
    )
    env = _child_env(
        tmp_path, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none"
    )
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run(
        [str(instrument), sys.executable, "-c", script],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    records = read_records(tmp_path / "records")
    assert len(records) == 2 and all(r["success"] and r["input_tokens"] for r in records)
    assert done.stderr.count("loading the pricing file") == 1
    assert records[0]["source"] == "openai"
