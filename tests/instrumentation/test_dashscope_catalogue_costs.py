"""The catalogue table's ``sdk`` rows through the real DashScope SDK against the fake server: the record's
cost equals the hand computation from the catalogue entry. The international endpoint is reached through
an HTTP proxy (the fake), so the SDK really calls ``dashscope-intl.aliyuncs.com`` and the record says so."""

from __future__ import annotations

from http import HTTPStatus

import dashscope
import pytest
from dashscope import Generation, TextEmbedding

from ai_usage_monitor.state import active_settings
from tests.instrumentation.dashscope_support import DashScopeMonitor, values
from tests.pricing.catalogue_cases import CASES, Case

INTL_BASE_URL = "http://dashscope-intl.aliyuncs.com/api/v1"
SDK_CASES = [case for case in CASES if case.sdk]


def _call(case: Case) -> None:
    if case.model.startswith("text-embedding"):
        embedded = TextEmbedding.call(case.model, [f"[[fake prompt_tokens={case.input_tokens}]]"])
        assert embedded.status_code == HTTPStatus.OK
        return
    directive = (
        f"[[fake prompt_tokens={case.input_tokens} completion_tokens={case.output_tokens} "
        f"cached_tokens={case.cached_tokens} reasoning_tokens={case.reasoning_tokens}]]"
    )
    generated = Generation.call(case.model, prompt=f"你好 {directive}")
    assert getattr(generated, "status_code", None) == HTTPStatus.OK


@pytest.fixture
def intl_through_proxy(monitor: DashScopeMonitor, monkeypatch: pytest.MonkeyPatch) -> None:
    """``dashscope`` aimed at the international host, every HTTP request carried to the fake as a proxy."""
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, monitor.fake.base_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(dashscope, "base_http_api_url", INTL_BASE_URL)


@pytest.mark.parametrize("case", SDK_CASES, ids=[case.id for case in SDK_CASES])
def test_sdk_record_cost_is_the_hand_computation(
    monitor: DashScopeMonitor, request: pytest.FixtureRequest, case: Case
) -> None:
    if case.provider == "dashscope-intl":
        request.getfixturevalue("intl_through_proxy")
    _call(case)
    record = monitor.record()
    settings = active_settings()
    assert settings is not None
    assert values(record, "provider", "model", "input_tokens", "cached_tokens") == (
        case.provider,
        case.model,
        case.input_tokens,
        case.cached_tokens,
    )
    assert (record["priced"], record["currency"], record["price_ref"]) == (True, "CNY", case.ref)
    assert record["cost"] == pytest.approx(case.expected_cost_cny(settings.usd_cny_rate), rel=1e-9)


def test_the_international_endpoint_is_really_called(
    monitor: DashScopeMonitor, intl_through_proxy: None
) -> None:
    _call(next(case for case in SDK_CASES if case.provider == "dashscope-intl"))
    (sent,) = monitor.fake.requests
    assert sent.path.startswith(INTL_BASE_URL)
    attributes = monitor.span_attributes()
    assert (attributes["gen_ai.provider.name"], attributes["server.address"]) == (
        "dashscope-intl",
        "dashscope-intl.aliyuncs.com",
    )
    assert values(monitor.record(), "provider", "source") == ("dashscope-intl", "dashscope")
