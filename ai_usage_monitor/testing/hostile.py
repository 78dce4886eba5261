"""Hostile record lines of every kind the index must refuse, salvage or count once: for the tests and the
reliability figure (``benchmarks/reliability_store.py``).

``hostile_chunk(kind, record)`` returns bytes that stand in for ``record``: read by the index they must
yield ``record`` exactly once, plus the number of corrupt lines it returns alongside.
"""

from __future__ import annotations

import json
from typing import Any

from ai_usage_monitor.records import UsageRecord, new_record_id

__all__ = ["HOSTILE_KINDS", "hostile_chunk"]

#: one field set to a value the number rules refuse (``ai_usage_monitor.store.schema.CHECKED_FIELDS``)
_POISON: dict[str, tuple[str, Any]] = {
    "nan_cost": ("cost", float("nan")),
    "infinity_cost": ("cost", float("inf")),
    "negative_infinity_duration": ("duration_ms", float("-inf")),
    "negative_cost": ("cost", -0.5),
    "negative_tokens": ("input_tokens", -10),
    "negative_duration": ("duration_ms", -1.0),
    "string_cost": ("cost", "abc"),
    "numeric_string_cost": ("cost", "0.5"),
    "string_tokens": ("output_tokens", "12"),
    "fractional_tokens": ("total_tokens", 1.5),
    "huge_integer_tokens": ("cached_tokens", 10**30),
    "timestamp_in_ms": ("timestamp", 1.7e12),
    "string_timestamp": ("timestamp", "2026-12-07T00:00:00"),
    "list_cost": ("cost", [1]),
    "object_tokens": ("input_tokens", {"n": 1}),
    "boolean_timestamp": ("timestamp", True),
}

HOSTILE_KINDS: tuple[str, ...] = (
    *_POISON,
    "not_json",
    "not_an_object",
    "invalid_utf8",
    "huge_line",
    "deep_nesting",
    "torn_then_glued",
    "torn_then_glued_nested_tags",
    "duplicate",
)


def _poison_line(record: UsageRecord, key: str, value: Any) -> bytes:
    data = record.to_dict()
    data.update({key: value, "record_id": new_record_id()})
    return json.dumps(data, ensure_ascii=False).encode() + b"\n"


def _torn_prefix(record: UsageRecord, nested_tags: bool) -> bytes:
    """The first part of another record's line, as a writer killed mid-line leaves it (no newline)."""
    other = UsageRecord.from_dict({**record.to_dict(), "record_id": new_record_id(), "model": "torn"})
    if nested_tags:  # the torn part itself holds a nested ``{"timestamp":`` key
        other.tags = {"timestamp": "torn-tag", "note": "x" * 40}
    line = other.to_json_line()
    cut = line.index(b"torn-tag") + 3 if nested_tags else len(line) // 2
    return line[:cut]


def hostile_chunk(kind: str, record: UsageRecord) -> tuple[bytes, int]:
    """Lines standing in for ``record`` (it must come out of them exactly once) and how many of those lines
    the index must count as corrupt."""
    line = record.to_json_line()
    if kind in _POISON:
        return _poison_line(record, *_POISON[kind]) + line, 1
    if kind == "not_json":
        return b"this is not json {\n" + line, 1
    if kind == "not_an_object":
        return b'[{"timestamp": 1.0}]\n' + line, 1
    if kind == "invalid_utf8":
        bad = record.to_json_line().replace(b'"model":"', b'"model":"\xff\xfe', 1)
        return bad + line, 1
    if kind == "huge_line":  # 4 MiB of an unterminated string
        return b'{"timestamp":1.0,"error_msg":"' + b"x" * (4 << 20) + b"\n" + line, 1
    if kind == "deep_nesting":
        depth = 100_000
        return b'{"timestamp":1.0,"cost":' + b"[" * depth + b"]" * depth + b"}\n" + line, 1
    if kind in ("torn_then_glued", "torn_then_glued_nested_tags"):
        nested = kind.endswith("nested_tags")
        if nested:  # the glued record has a nested ``{"timestamp":`` key too: the last candidate is wrong
            record.tags = {"timestamp": "glued-tag"}
            line = record.to_json_line()
        return _torn_prefix(record, nested) + line, 1
    if kind == "duplicate":
        return line + line, 0
    raise ValueError(f"unknown hostile kind {kind!r}")
