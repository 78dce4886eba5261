"""Anthropic SDK instrumentation: each ``messages.create`` / ``messages.stream`` call becomes one record."""

from __future__ import annotations

from ai_usage_monitor.instrumentation.anthropic.instrumentor import AnthropicUsageInstrumentor

__all__ = ["AnthropicUsageInstrumentor"]
