"""Calls of the real SDKs through the local fake write records naming the app and the machine
(docs/architecture.md §4): the ``service`` setting when given, else the script's name; the host's name."""

from __future__ import annotations

import socket
import sys
from http import HTTPStatus
from typing import Any

import openai
import pytest
from dashscope import Generation

import ai_usage_monitor.instrumentation as inst
from tests.conftest import Instrumented
from tests.instrumentation.dashscope_support import DashScopeMonitor
from tests.instrumentation.openai_support import chat_messages, directive, only_record


@pytest.fixture(autouse=True)
def _as_a_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process looks like ``python /srv/apps/弹幕分析.py`` with no OpenTelemetry service set."""
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "AI_USAGE_SERVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["/srv/apps/弹幕分析.py"])


def test_openai_call_records_the_script_and_the_host(instrumented: Instrumented, fake: Any) -> None:
    with openai.OpenAI(api_key="k", base_url=fake.openai_base_url, max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=chat_messages(directive(prompt_tokens=5))
        )
    record = only_record(instrumented)
    assert (record["service"], record["host"]) == ("弹幕分析", socket.gethostname())


def test_the_service_setting_names_openai_calls(instrumented: Instrumented, fake: Any) -> None:
    inst.instrument(
        records_dir=instrumented.records_dir,
        timezone="Asia/Shanghai",
        raise_internal_errors=True,
        service="直播-api",
    )
    with openai.OpenAI(api_key="k", base_url=fake.openai_base_url, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=chat_messages("hi"))
    assert only_record(instrumented)["service"] == "直播-api"


def test_dashscope_call_records_the_script_and_the_host(monitor: DashScopeMonitor) -> None:
    response = Generation.call("qwen-plus", prompt="分析 [[fake prompt_tokens=10 completion_tokens=2]]")
    assert response.status_code == HTTPStatus.OK
    record = monitor.record()
    assert (record["service"], record["host"]) == ("弹幕分析", socket.gethostname())
