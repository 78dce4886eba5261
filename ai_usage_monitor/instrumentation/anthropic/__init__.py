"""Anthropic SDK instrumentation: each ``messages.create`` / ``messages.stream`` call becomes one record.

The instrumentor is imported on first use, so the SDK-free :mod:`.readers` load without ``anthropic``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_usage_monitor.instrumentation.anthropic.instrumentor import AnthropicUsageInstrumentor

__all__ = ["AnthropicUsageInstrumentor"]


def __getattr__(name: str) -> Any:
    if name == "AnthropicUsageInstrumentor":
        from ai_usage_monitor.instrumentation.anthropic.instrumentor import AnthropicUsageInstrumentor

        return AnthropicUsageInstrumentor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
