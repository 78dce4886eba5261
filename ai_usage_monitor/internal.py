"""The monitor's own failures: logged once per place, counted, re-raised only when a setting asks."""

from __future__ import annotations

import logging
import threading
from collections import Counter

__all__ = ["handle_internal_error", "internal_error_counts", "set_raise_internal_errors"]

logger = logging.getLogger("ai_usage_monitor")

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_raise = False


def set_raise_internal_errors(enabled: bool) -> None:
    """Turned on by the project's own tests (``AI_USAGE_RAISE_INTERNAL_ERRORS=1``), never by detection."""
    global _raise
    _raise = enabled


def handle_internal_error(where: str, exc: BaseException) -> None:
    """Log the first failure at ``where`` with its traceback, count every one; never raise by default."""
    with _lock:
        _counts[where] += 1
        first = _counts[where] == 1
    if first:
        logger.error(
            "ai-usage-monitor internal error in %s (further ones are only counted)", where, exc_info=exc
        )
    if _raise:
        raise exc


def internal_error_counts() -> dict[str, int]:
    with _lock:
        return dict(_counts)
