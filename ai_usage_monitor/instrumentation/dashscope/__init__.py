"""Instrumentation of the native DashScope (Alibaba Model Studio, Qwen) SDK."""

from __future__ import annotations

from ai_usage_monitor.instrumentation.dashscope.instrumentor import DashScopeUsageInstrumentor

__all__ = ["DashScopeUsageInstrumentor"]
