"""JSONL record lines → ``records`` rows for ClickHouse, by the DuckDB ingest's rules (``schema.py``):
a line that is not a JSON object with a usable ``timestamp``, or that breaks a number rule of
``CHECKED_FIELDS``, is corrupt (``None``); a missing key takes the ``UsageRecord`` default; ``model`` is
``request_model`` when an older record has one; a missing ``record_id`` becomes a stable hash of the line,
so a line shipped twice still collapses to one record."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store.clickhouse.client import ClickHouseClient
from ai_usage_monitor.store.clickhouse.schema import insert_columns
from ai_usage_monitor.store.schema import CHECKED_FIELDS, INDEXED_FIELDS, MAX_TAG_CHARS, TS_MAX, tag_entry

__all__ = ["INSERT_BATCH_ROWS", "Row", "insert_records", "line_row", "record_row", "rows_from_lines"]

#: One ``records`` row, values in ``schema.insert_columns()`` order.
Row = tuple[Any, ...]
#: Rows sent per INSERT by ``insert_records`` (ClickHouse likes few, large inserts).
INSERT_BATCH_ROWS = 50_000

_DEFAULTS: dict[str, Any] = {
    f.name: f.default
    for f in dataclasses.fields(UsageRecord)
    if f.name in INDEXED_FIELDS and f.default is not dataclasses.MISSING
}


class _Corrupt(Exception):
    pass


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Corrupt
    return float(value)


def _checked(key: str, value: Any) -> Any:
    """A ``CHECKED_FIELDS`` value by the writer's rules: finite, >= 0, integral for token counts."""
    if value is None:
        return _DEFAULTS.get(key)
    number = _number(value)
    if not math.isfinite(number) or number < 0:
        raise _Corrupt
    if INDEXED_FIELDS[key] == "BIGINT":
        if number != int(number) or number >= 2**63:
            raise _Corrupt
        return int(number)
    return number


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _value(key: str, value: Any) -> Any:
    sql_type = INDEXED_FIELDS[key]
    if sql_type.endswith("[]"):  # ``tags``: as the DuckDB ingest reads them (anything but an object: none)
        if not isinstance(value, Mapping):
            return []
        pairs = ((str(k), _text(v)) for k, v in value.items())
        return [tag_entry(k, v) for k, v in pairs if len(k) + len(v) <= MAX_TAG_CHARS]
    if value is None:
        return _DEFAULTS.get(key)
    if sql_type == "BOOLEAN":
        if not isinstance(value, bool):
            raise _Corrupt
        return value
    if sql_type in ("BIGINT", "INTEGER", "DOUBLE"):
        number = _number(value)
        return int(number) if sql_type != "DOUBLE" else number
    return _text(value)


def record_row(record: Mapping[str, Any], line: bytes | None = None) -> Row | None:
    """``record`` (a parsed JSONL line) as a row, or ``None`` when it counts as corrupt. ``line``: its raw
    bytes, hashed for the ``record_id`` of a record without one (else the record's canonical JSON is)."""
    try:
        ts = _number(record.get("timestamp"))
        if not (math.isfinite(ts) and 0 <= ts < TS_MAX):
            return None
        values: list[Any] = [ts]
        for key in list(INDEXED_FIELDS)[1:]:
            raw = record.get(key)
            if key == "model" and record.get("request_model") is not None:
                raw = record["request_model"]
            values.append(_checked(key, raw) if key in CHECKED_FIELDS else _value(key, raw))
    except _Corrupt:
        return None
    record_id = record.get("record_id")
    if record_id is None:
        source = line if line is not None else orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        record_id = "line:" + hashlib.blake2b(source.strip(), digest_size=16).hexdigest()
    values.append(_text(record_id))
    return tuple(values)


def line_row(line: bytes) -> Row | None:
    """One JSONL line as a row, or ``None`` when it is corrupt (not JSON, not an object, bad numbers)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record_row(record, line) if isinstance(record, dict) else None


def rows_from_lines(lines: Iterable[bytes]) -> tuple[list[Row], int]:
    """The rows of complete JSONL ``lines`` (blank ones skipped) and how many lines were corrupt."""
    rows: list[Row] = []
    corrupt = 0
    for line in lines:
        if not line.strip():
            continue
        row = line_row(line)
        if row is None:
            corrupt += 1
        else:
            rows.append(row)
    return rows, corrupt


def insert_records(client: ClickHouseClient, rows: Sequence[Row], batch_rows: int = INSERT_BATCH_ROWS) -> int:
    """Insert ``rows`` into ``records`` in batches of ``batch_rows``; returns how many were sent. A row sent
    twice (same ``record_id``) is collapsed by the table's engine, so a retried batch adds nothing."""
    columns = insert_columns()
    for first in range(0, len(rows), batch_rows):
        client.insert("records", columns, list(rows[first : first + batch_rows]))
    return len(rows)
