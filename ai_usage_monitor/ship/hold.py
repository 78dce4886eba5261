"""A test-only pause: with ``AI_USAGE_SHIP_HOLD_AFTER_INSERT=N`` the shipper stops for good right after the
Nth insert of its run was acknowledged, before that batch's offsets are committed, and writes its pid to a
marker file. That is the worst moment for a kill, made reachable on purpose; unset, nothing is installed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["HOLD_ENV", "hold_hook"]

HOLD_ENV = "AI_USAGE_SHIP_HOLD_AFTER_INSERT"


def hold_hook(marker: Path) -> Callable[[int], None] | None:
    """The ``after_insert`` hook the environment asks for, or ``None``."""
    value = os.environ.get(HOLD_ENV, "").strip()
    if not value:
        return None
    target = int(value)

    def hold(batch: int) -> None:
        if batch != target:
            return
        marker.write_text(str(os.getpid()), encoding="utf-8")
        while True:
            time.sleep(3600)

    return hold
