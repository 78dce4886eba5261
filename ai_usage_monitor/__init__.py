"""ai-usage-monitor: what every LLM API call costs — tokens, money, time, errors."""

from __future__ import annotations

__all__: list[str] = []
