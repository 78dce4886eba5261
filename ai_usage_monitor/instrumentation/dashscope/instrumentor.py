"""``DashScopeUsageInstrumentor``: the native DashScope SDK's patch targets, all classmethods patched
where they are defined (never ``BaseApi.call``, which every one of them goes through: that would count
twice).
"""

from __future__ import annotations

from ai_usage_monitor.instrumentation.base import PatchTarget, UsageInstrumentor
from ai_usage_monitor.instrumentation.dashscope.extractors import (
    ApplicationExtractor,
    EmbeddingExtractor,
    GenerationExtractor,
)

__all__ = ["DashScopeUsageInstrumentor"]

_CHAT = GenerationExtractor()
_GENERATION = "dashscope.aigc.generation"
_MULTIMODAL = "dashscope.aigc.multimodal_conversation"


class DashScopeUsageInstrumentor(UsageInstrumentor):
    """Records every Generation, MultiModalConversation, TextEmbedding and Application call (sync,
    async, streaming); targets an older SDK lacks are skipped."""

    package = "dashscope"
    targets = (
        PatchTarget(_GENERATION, "Generation.call", "sync", _CHAT),
        PatchTarget(_GENERATION, "AioGeneration.call", "async", _CHAT),
        PatchTarget(_MULTIMODAL, "MultiModalConversation.call", "sync", _CHAT),
        PatchTarget(_MULTIMODAL, "AioMultiModalConversation.call", "async", _CHAT),
        PatchTarget(
            "dashscope.embeddings.text_embedding", "TextEmbedding.call", "sync", EmbeddingExtractor()
        ),
        PatchTarget("dashscope.app.application", "Application.call", "sync", ApplicationExtractor()),
    )
