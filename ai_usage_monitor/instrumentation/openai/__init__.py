"""OpenAI SDK instrumentation: every chat, embeddings and Responses call becomes one usage record."""

from __future__ import annotations

from ai_usage_monitor.instrumentation.openai.instrumentor import OpenAIUsageInstrumentor

__all__ = ["OpenAIUsageInstrumentor"]
