"""``OpenAIUsageInstrumentor``: the table of OpenAI SDK methods the monitor wraps (docs/architecture.md §9).

Chat ``parse`` posts directly in SDK 3.x, so it is wrapped beside ``create``; if a version routes one
through the other, the core's re-entrancy guard records the call once. ``.stream()`` helpers call
``create`` and are recorded there.
"""

from __future__ import annotations

from typing import ClassVar

from ai_usage_monitor.instrumentation.base import PatchTarget, UsageInstrumentor
from ai_usage_monitor.instrumentation.openai.extractors import (
    ChatExtractor,
    EmbeddingsExtractor,
    ResponsesExtractor,
)

__all__ = ["OpenAIUsageInstrumentor"]

_CHAT = ChatExtractor()
_EMBEDDINGS = EmbeddingsExtractor()
_RESPONSES = ResponsesExtractor()

_CHAT_MODULE = "openai.resources.chat.completions"
#: SDK 1.x before ``parse`` left beta (skipped where absent, as in 2.x/3.x)
_BETA_CHAT_MODULE = "openai.resources.beta.chat.completions"
_EMBEDDINGS_MODULE = "openai.resources.embeddings"
_RESPONSES_MODULE = "openai.resources.responses.responses"


class OpenAIUsageInstrumentor(UsageInstrumentor):
    """Records chat completions (create, parse, streams), embeddings and the Responses API."""

    package: ClassVar[str] = "openai"
    targets: ClassVar[tuple[PatchTarget, ...]] = (
        PatchTarget(_CHAT_MODULE, "Completions.create", "sync", _CHAT),
        PatchTarget(_CHAT_MODULE, "Completions.parse", "sync", _CHAT),
        PatchTarget(_CHAT_MODULE, "AsyncCompletions.create", "async", _CHAT),
        PatchTarget(_CHAT_MODULE, "AsyncCompletions.parse", "async", _CHAT),
        PatchTarget(_BETA_CHAT_MODULE, "Completions.parse", "sync", _CHAT),
        PatchTarget(_BETA_CHAT_MODULE, "AsyncCompletions.parse", "async", _CHAT),
        PatchTarget(_EMBEDDINGS_MODULE, "Embeddings.create", "sync", _EMBEDDINGS),
        PatchTarget(_EMBEDDINGS_MODULE, "AsyncEmbeddings.create", "async", _EMBEDDINGS),
        PatchTarget(_RESPONSES_MODULE, "Responses.create", "sync", _RESPONSES),
        PatchTarget(_RESPONSES_MODULE, "Responses.parse", "sync", _RESPONSES),
        PatchTarget(_RESPONSES_MODULE, "AsyncResponses.create", "async", _RESPONSES),
        PatchTarget(_RESPONSES_MODULE, "AsyncResponses.parse", "async", _RESPONSES),
    )
