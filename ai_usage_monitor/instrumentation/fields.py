"""SDK-free readers of response fields: SDK objects, dict-like usage and raw JSON alike.

Shared by the DashScope and Anthropic extractors and by ``track_ai_usage``, which reads responses of any
provider without its SDK installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["count", "field"]


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` or ``obj.name``, ``None`` when absent (DashScope 2.x raises AttributeError, ≤1.24
    KeyError)."""
    if isinstance(obj, dict):  # DashScope responses and JSON: checked first, it is the hot path
        return obj.get(name)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except KeyError:
        return None


def count(value: Any) -> int | None:
    """``value`` when it is a token count (an int, not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
