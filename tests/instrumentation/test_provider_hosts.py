"""The real ``openai`` client aimed at each provider's real base URL, carried to the local fake by an
HTTPS forwarding proxy (CONNECT + TLS with a test CA): the provider comes from the host, and the price
from that provider's data file (hand-computed here from the official figures in ``pricing/data/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from ai_usage_monitor.config import Settings
from tests.conftest import Instrumented
from tests.support.tls_proxy import CertificateFiles, TlsForwardingProxy, make_certificates

PROMPT, CACHED, COMPLETION = 1000, 300, 200
DIRECTIVE = f"[[fake prompt_tokens={PROMPT} cached_tokens={CACHED} completion_tokens={COMPLETION}]]"
HOSTS = (
    "api.deepseek.com",
    "api.moonshot.cn",
    "open.bigmodel.cn",
    "ark.cn-beijing.volces.com",
    "qianfan.baidubce.com",
    "api.hunyuan.cloud.tencent.com",
    "api.minimax.chat",
    "api.minimaxi.com",
    "api.siliconflow.cn",
    "dashscope.aliyuncs.com",
    "dashscope-intl.aliyuncs.com",
    "api.openai.com",
    "llm.corp.example",
)


def _cny(input_price: float, cached_price: float, output_price: float) -> float:
    """Cost of the directive's tokens at prices per 1M tokens."""
    return ((PROMPT - CACHED) * input_price + CACHED * cached_price + COMPLETION * output_price) / 1e6


def _deepseek_flash(ts: float) -> float:
    """DeepSeek's page: peak 09-12 and 14-18 Beijing time (01-04, 06-10 UTC) at twice the off-peak price."""
    hour = datetime.fromtimestamp(ts, UTC).hour
    peak = 1 <= hour < 4 or 6 <= hour < 10
    return _cny(2.0, 0.04, 8.0) if peak else _cny(1.0, 0.02, 4.0)


def _openai_gpt_4o_mini(ts: float) -> float:
    """OpenAI's list price in USD (0.15 / 0.075 cached / 0.60 per 1M), at the default USD/CNY rate 7.10."""
    return _cny(0.15, 0.075, 0.60) * 7.10


#: no data file of ours: genai-prices' figures (USD) or unpriced, but never OpenAI's
NO_DATA = "no data file"
#: base URL (as each provider documents it), model, the provider expected, its cost (None: unpriced)
CASES: list[tuple[str, str, str, Any]] = [
    ("https://api.deepseek.com", "deepseek-flash", "deepseek", _deepseek_flash),
    ("https://open.bigmodel.cn/api/paas/v4", "glm-5.3", "zhipu", lambda ts: _cny(8.0, 2.0, 28.0)),
    ("https://api.moonshot.cn/v1", "kimi-k2.6", "moonshot", lambda ts: _cny(6.5, 1.1, 27.0)),
    ("https://ark.cn-beijing.volces.com/api/v3", "doubao-seed-1-6-250615", "volcengine", NO_DATA),
    ("https://qianfan.baidubce.com/v2", "ernie-4.5-turbo-128k", "qianfan", lambda ts: _cny(0.8, 0.2, 3.2)),
    (
        "https://api.hunyuan.cloud.tencent.com/v1",
        "hunyuan-turbos-latest",
        "hunyuan",
        lambda ts: _cny(0.8, 0.8, 2.0),
    ),
    ("https://api.minimaxi.com/v1", "MiniMax-M2.7", "minimax", lambda ts: _cny(2.1, 0.42, 8.4)),
    ("https://api.siliconflow.cn/v1", "deepseek-ai/DeepSeek-V3", "siliconflow", NO_DATA),
    ("https://api.openai.com/v1", "gpt-4o-mini", "openai", _openai_gpt_4o_mini),
    # an unknown host is its own provider: OpenAI's model name is not priced as OpenAI by accident
    ("https://llm.corp.example/v1", "gpt-4o-mini", "llm.corp.example", None),
]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"), HOSTS)


@pytest.fixture(scope="module")
def proxy(certificates: CertificateFiles, fake_provider: Any) -> Iterator[TlsForwardingProxy]:
    with TlsForwardingProxy(certificates, fake_provider.host, fake_provider.port) as running:
        yield running


@pytest.fixture
def client_for(proxy: TlsForwardingProxy, certificates: CertificateFiles) -> Callable[[str], openai.OpenAI]:
    """An ``openai.OpenAI`` client for a real base URL, carried to the fake by the proxy."""

    def make(base_url: str) -> openai.OpenAI:
        http = httpx2.Client(proxy=proxy.url, verify=certificates.client_context())
        return openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, http_client=http)

    return make


def _ask(client: openai.OpenAI, model: str, **options: Any) -> None:
    with client:
        messages: Any = [{"role": "user", "content": f"hello {DIRECTIVE}"}]
        client.chat.completions.create(model=model, messages=messages, **options)


@pytest.mark.parametrize("case", CASES, ids=[c[2] for c in CASES])
def test_real_base_url_names_the_provider_and_prices_in_cny(
    instrumented: Instrumented,
    proxy: TlsForwardingProxy,
    client_for: Callable[[str], openai.OpenAI],
    case: tuple[str, str, str, Any],
) -> None:
    base_url, model, provider, cost = case
    _ask(client_for(base_url), model)
    [record] = instrumented.records()
    host = base_url.split("/")[2]
    assert f"{host}:443" in proxy.tunnels, "the SDK really opened a TLS tunnel to the provider's host"
    requested = record["request_model"] or record["model"]  # kept only when the answer names a snapshot
    assert (record["provider"], requested, record["currency"]) == (provider, model, "CNY")
    assert (record["input_tokens"], record["cached_tokens"], record["output_tokens"]) == (
        PROMPT,
        CACHED,
        COMPLETION,
    )
    if cost is None:
        assert (record["priced"], record["cost"], record["price_ref"]) == (False, 0, None)
    elif cost is NO_DATA:
        assert not str(record["price_ref"]).startswith("genai-prices/openai/")
    else:
        assert record["priced"] is True
        assert record["cost"] == pytest.approx(cost(record["timestamp"]), rel=1e-9)


def test_a_stream_through_the_proxy_is_priced_too(
    instrumented: Instrumented, client_for: Callable[[str], openai.OpenAI]
) -> None:
    client = client_for("https://open.bigmodel.cn/api/paas/v4")
    with client:
        messages: Any = [{"role": "user", "content": f"hello {DIRECTIVE}"}]
        chunks = list(client.chat.completions.create(model="glm-5.3", messages=messages, stream=True))
    assert chunks
    [record] = instrumented.records()
    assert (record["provider"], record["stream"]) == ("zhipu", True)
    assert record["cost"] == pytest.approx(_cny(8.0, 2.0, 28.0), rel=1e-9)


@pytest.mark.parametrize(
    ("base_url", "provider"),
    [
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "dashscope-intl"),
        ("https://api.minimax.chat/v1", "minimax"),
    ],
)
def test_other_real_hosts_name_their_provider(
    instrumented: Instrumented, client_for: Callable[[str], openai.OpenAI], base_url: str, provider: str
) -> None:
    _ask(client_for(base_url), "qwen-plus")
    [record] = instrumented.records()
    assert record["provider"] == provider


def test_the_provider_hosts_setting_names_a_company_gateway(
    instrumented: Instrumented, client_for: Callable[[str], openai.OpenAI]
) -> None:
    import ai_usage_monitor.instrumentation as inst

    inst.instrument(
        records_dir=instrumented.records_dir,
        timezone="Asia/Shanghai",
        raise_internal_errors=True,
        provider_hosts={"https://LLM.corp.example/v1": "deepseek", "127.0.0.1": "openai"},
    )
    _ask(client_for("https://llm.corp.example/v1"), "deepseek-flash")
    [record] = instrumented.records()
    assert record["provider"] == "deepseek"
    assert record["cost"] == pytest.approx(_deepseek_flash(record["timestamp"]), rel=1e-9)


def test_provider_hosts_from_the_environment_and_a_toml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AI_USAGE_PROVIDER_HOSTS", '{"vLLM.corp.example.": "qwen-selfhosted"}')
    assert Settings().provider_hosts == {"vllm.corp.example": "qwen-selfhosted"}
    monkeypatch.delenv("AI_USAGE_PROVIDER_HOSTS")
    config = tmp_path / "monitor.toml"
    config.write_text(
        '[provider_hosts]\n"gateway.corp.example" = "deepseek"\n"网关.example" = "zhipu"\n', "utf-8"
    )
    monkeypatch.setenv("AI_USAGE_CONFIG", str(config))
    assert Settings().provider_hosts == {"gateway.corp.example": "deepseek", "网关.example": "zhipu"}
    with pytest.raises(ValueError, match="provider_hosts"):
        Settings(provider_hosts={"gateway.corp.example": " "})
