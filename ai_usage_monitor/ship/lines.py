"""Record lines → rows for the store: a corrupt line is counted and skipped, and a record glued behind a
torn line (a killed writer's half line, then another writer's whole one) is kept, as the index does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["RowOf", "parse_lines", "salvage"]

#: A line's row for the store, or ``None`` when the line is corrupt.
RowOf = Callable[[bytes], Any]

#: where a record line starts: ``UsageRecord``'s first key (inside a string orjson escapes the quotes)
_RECORD_START = b'{"timestamp":'


def salvage(line: bytes) -> bytes | None:
    """The record glued behind a torn line: the last ``{"timestamp":`` suffix that parses as an object (an
    earlier one when the last is inside a nested value), else ``None``."""
    at = line.rfind(_RECORD_START)
    while at > 0:
        suffix = line[at:]
        try:
            if isinstance(orjson.loads(suffix), dict):
                return suffix
        except orjson.JSONDecodeError:
            pass
        at = line.rfind(_RECORD_START, 0, at)
    return None


def parse_lines(chunk: bytes, limit: int, row_of: RowOf) -> tuple[list[Any], int, int]:
    """The rows of ``chunk`` (lines each ending in ``\\n``, but a compressed file's last), up to ``limit``
    of them: ``(rows, corrupt lines, bytes of chunk used)``."""
    rows: list[Any] = []
    corrupt = 0
    pos = 0
    size = len(chunk)
    while pos < size and len(rows) < limit:
        end = chunk.find(b"\n", pos)
        end = size if end < 0 else end + 1
        line = chunk[pos:end].rstrip(b"\n")
        pos = end
        if not line or line.isspace():
            continue
        row = row_of(line)
        if row is None:
            corrupt += 1
            glued = salvage(line)
            row = None if glued is None else row_of(glued)
            if row is None:
                continue
        rows.append(row)
    return rows, corrupt, pos
