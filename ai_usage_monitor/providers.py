"""Provider names (``gen_ai.provider.name``) from an OpenAI-style client's base URL: SDK-free, so the CLI
and the pricing tools can use the same table as the instrumentation.

First match wins: a known provider host (:data:`PROVIDER_HOSTS`: DashScope mainland and international,
DeepSeek, Moonshot, Zhipu, Volcengine Ark, Qianfan, Hunyuan, MiniMax, SiliconFlow, OpenAI) or
``*.maas.aliyuncs.com``; a path containing ``/compatible-mode/`` (DashScope's OpenAI-compatible path,
also served by the local fake) means ``dashscope``; a host of the ``provider_hosts`` setting;
``*.openai.azure.com`` means ``azure.ai.openai``; any other host is its own provider name, so an unknown
endpoint is never priced as OpenAI by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "NO_HOSTS",
    "PROVIDER_AZURE",
    "PROVIDER_DASHSCOPE",
    "PROVIDER_DASHSCOPE_INTL",
    "PROVIDER_HOSTS",
    "PROVIDER_OPENAI",
    "provider_for",
]

PROVIDER_OPENAI = "openai"
PROVIDER_AZURE = "azure.ai.openai"
PROVIDER_DASHSCOPE = "dashscope"
PROVIDER_DASHSCOPE_INTL = "dashscope-intl"

#: base-URL hosts and their ``gen_ai.provider.name`` (the semantic conventions' name where there is one)
PROVIDER_HOSTS: Mapping[str, str] = MappingProxyType(
    {
        "api.openai.com": PROVIDER_OPENAI,
        "dashscope.aliyuncs.com": PROVIDER_DASHSCOPE,
        "dashscope-intl.aliyuncs.com": PROVIDER_DASHSCOPE_INTL,
        "api.deepseek.com": "deepseek",
        "api.moonshot.cn": "moonshot",
        "open.bigmodel.cn": "zhipu",
        "ark.cn-beijing.volces.com": "volcengine",
        "qianfan.baidubce.com": "qianfan",
        "api.hunyuan.cloud.tencent.com": "hunyuan",
        "api.minimax.chat": "minimax",
        "api.minimaxi.com": "minimax",
        "api.siliconflow.cn": "siliconflow",
    }
)
#: no ``provider_hosts`` setting
NO_HOSTS: Mapping[str, str] = MappingProxyType({})
_DASHSCOPE_HOST_SUFFIX = ".maas.aliyuncs.com"
_DASHSCOPE_COMPATIBLE_PATH = "/compatible-mode/"
_AZURE_HOST_SUFFIX = ".openai.azure.com"


def provider_for(host: str, path: str = "", hosts: Mapping[str, str] = NO_HOSTS) -> str:
    """The provider name for a base URL's host and path; ``hosts``: the ``provider_hosts`` setting."""
    host = host.lower().rstrip(".")
    known = PROVIDER_HOSTS.get(host)
    if known is not None:
        return known
    if host.endswith(_DASHSCOPE_HOST_SUFFIX) or _DASHSCOPE_COMPATIBLE_PATH in path:
        return PROVIDER_DASHSCOPE
    mapped = hosts.get(host)
    if mapped is not None:
        return mapped
    if host.endswith(_AZURE_HOST_SUFFIX):
        return PROVIDER_AZURE
    return host or PROVIDER_OPENAI
