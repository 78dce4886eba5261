"""Reading back what the monitor wrote, for assertions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

__all__ = ["read_records"]


def read_records(records_dir: Path) -> list[dict[str, Any]]:
    """Every record line in every daily file of ``records_dir``, oldest file first; raises on a bad line."""
    lines: list[dict[str, Any]] = []
    for path in sorted(Path(records_dir).glob("usage_*.jsonl")):
        for raw in path.read_bytes().splitlines():
            lines.append(orjson.loads(raw))
    return lines
