"""Records name their app (``service``) and machine (``host``): the setting, else OpenTelemetry's
``service.name``, else the script name (docs/architecture.md §4), written by the real JSONL writer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ai_usage_monitor import record_ai_usage
from ai_usage_monitor.config import Settings
from ai_usage_monitor.recorder import Recorder, set_recorder
from tests.support.records import read_records

_OTEL_ENV = ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "AI_USAGE_SERVICE")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _OTEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["/srv/apps/live_worker.py", "--port", "1"])


def written(tmp_path: Path, **settings: str) -> dict[str, object]:
    """The one record a fresh recorder (built from ``settings`` and the environment) writes."""
    recorder = Recorder(Settings(records_dir=tmp_path, timezone="Asia/Shanghai", **settings))
    previous = set_recorder(recorder)
    try:
        record_ai_usage(model="qwen-plus", input_tokens=10, output_tokens=5)
    finally:
        set_recorder(previous)
        recorder.close()
    [record] = read_records(tmp_path)
    return record


def test_script_name_and_host_by_default(tmp_path: Path) -> None:
    record = written(tmp_path)
    assert record["service"] == "live_worker"
    assert record["host"] == socket.gethostname()


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [("", "python"), ("-c", "python"), ("/srv/apps/直播助手/__main__.py", "直播助手"), ("worker", "worker")],
)
def test_script_name_of_interpreters_and_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv0: str, expected: str
) -> None:
    monkeypatch.setattr(sys, "argv", [argv0])
    assert written(tmp_path)["service"] == expected


def test_otel_resource_attributes_then_service_name_then_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=%E5%AE%A2%E6%9C%8D"
    )
    assert written(tmp_path / "a")["service"] == "客服"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "otel-live-api")
    assert written(tmp_path / "b")["service"] == "otel-live-api"
    monkeypatch.setenv("AI_USAGE_SERVICE", "env-setting")
    assert written(tmp_path / "c")["service"] == "env-setting"
    assert written(tmp_path / "d", service="直播-api")["service"] == "直播-api"


def test_per_record_service_and_host_win(tmp_path: Path) -> None:
    recorder = Recorder(Settings(records_dir=tmp_path, timezone="Asia/Shanghai", service="app"))
    previous = set_recorder(recorder)
    try:
        returned = record_ai_usage(
            model="qwen-plus", input_tokens=1, output_tokens=1, service="batch", host="h1"
        )
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1)
    finally:
        set_recorder(previous)
        recorder.close()
    first, second = read_records(tmp_path)
    assert (first["service"], first["host"]) == ("batch", "h1") == (returned.service, returned.host)
    assert (second["service"], second["host"]) == ("app", socket.gethostname())


_SDK_APP = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from ai_usage_monitor import instrument, record_ai_usage

instrument(records_dir=sys.argv[1], timezone="Asia/Shanghai", raise_internal_errors=True)
# set up after instrument(): the first record still finds it
trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": "sdk-named"})))
record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1)
"""


def test_an_sdk_tracer_provider_names_the_service_over_the_environment(tmp_path: Path) -> None:
    script = tmp_path / "shop_app.py"
    script.write_text(textwrap.dedent(_SDK_APP), encoding="utf-8")
    env = {**os.environ, "OTEL_SERVICE_NAME": "env-named", "PYTHONPATH": os.getcwd()}
    for name in ("AI_USAGE_SERVICE", "OTEL_RESOURCE_ATTRIBUTES"):
        env.pop(name, None)
    subprocess.run([sys.executable, str(script), str(tmp_path / "records")], env=env, check=True, timeout=60)
    [record] = read_records(tmp_path / "records")
    assert record["service"] == "sdk-named"
    assert record["host"] == socket.gethostname()


def test_service_is_resolved_once_per_recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(Settings(records_dir=tmp_path, timezone="Asia/Shanghai"))
    previous = set_recorder(recorder)
    try:
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "changed-later")
        record_ai_usage(model="qwen-plus", input_tokens=1, output_tokens=1)
    finally:
        set_recorder(previous)
        recorder.close()
    assert [r["service"] for r in read_records(tmp_path)] == ["live_worker", "live_worker"]
