"""The index's tables and the JSONL → column mapping, in one place so ingest and queries agree.

Only the fields the queries and exports use are indexed; random ids (request/trace/span/record id) and
free-form tags stay in the JSONL, which is the source of truth. A key missing from a line takes the
``UsageRecord`` default, so older and newer record versions read alike.

``model`` is indexed as the one name a call is grouped, labelled and alerted by: the requested model. Older
records held the provider's answered name there and the requested one in ``request_model``; for them the
indexed ``model`` is ``request_model``.
"""

from __future__ import annotations

import dataclasses

from ai_usage_monitor.records import UsageRecord

__all__ = [
    "INDEXED_FIELDS",
    "READ_COLUMNS",
    "RECORD_COLUMNS",
    "SCHEMA_SQL",
    "SCHEMA_VERSION",
    "TS_MAX",
    "ingest_select",
]

#: Bumped whenever a table changes shape; an index of another version is rebuilt from the JSONL.
SCHEMA_VERSION = "2"

#: Timestamps outside [0, TS_MAX) are not Unix seconds of an LLM call: the line counts as corrupt.
TS_MAX = 1e11

#: JSONL key → DuckDB type of every indexed field, in record order.
INDEXED_FIELDS: dict[str, str] = {
    "timestamp": "DOUBLE",
    "user_id": "VARCHAR",
    "anchor_id": "VARCHAR",
    "session_id": "VARCHAR",
    "model": "VARCHAR",
    "function": "VARCHAR",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "total_tokens": "BIGINT",
    "cost": "DOUBLE",
    "duration_ms": "DOUBLE",
    "success": "BOOLEAN",
    "error_msg": "VARCHAR",
    "provider": "VARCHAR",
    "operation": "VARCHAR",
    "cached_tokens": "BIGINT",
    "reasoning_tokens": "BIGINT",
    "currency": "VARCHAR",
    "priced": "BOOLEAN",
    "price_ref": "VARCHAR",
    "stream": "BOOLEAN",
    "source": "VARCHAR",
    "request_model": "VARCHAR",
    "error_type": "VARCHAR",
    "usage_missing": "BOOLEAN",
}

#: Column names of ``records`` that hold record fields (``timestamp`` is stored as ``ts``).
RECORD_COLUMNS: tuple[str, ...] = tuple("ts" if k == "timestamp" else k for k in INDEXED_FIELDS)

#: ``read_json``'s ``columns=``: explicit types, so nothing is sniffed and unknown keys are ignored.
READ_COLUMNS = "{" + ", ".join(f"'{k}': '{t}'" for k, t in INDEXED_FIELDS.items()) + "}"

_columns_sql = ",\n    ".join(f"{'ts' if k == 'timestamp' else k} {t}" for k, t in INDEXED_FIELDS.items())

SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS files (
    file_id INTEGER, name VARCHAR, inode BIGINT, head BLOB, "offset" BIGINT,
    records BIGINT, corrupt BIGINT
);
CREATE TABLE IF NOT EXISTS records (
    file_id INTEGER,
    batch INTEGER,
    {_columns_sql}
);
"""


def _sql_literal(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _defaults() -> dict[str, str]:
    out: dict[str, str] = {}
    for f in dataclasses.fields(UsageRecord):
        if f.name in INDEXED_FIELDS and f.default is not dataclasses.MISSING:
            literal = _sql_literal(f.default)
            if literal is not None:
                out[f.name] = literal
    return out


_DEFAULTS = _defaults()


def ingest_select(source: str) -> str:
    """``SELECT`` turning ``read_json`` rows of ``source`` into ``records`` rows.

    A line that is not a JSON object with a usable ``timestamp`` comes out with ``ts`` NULL so the caller
    can count it as corrupt. ``$files`` and ``$ids`` list each file read and the id of its record file.
    """
    exprs = [
        "CAST(map_extract_value(MAP($files, $ids), filename) AS INTEGER)",
        "CAST($batch AS INTEGER)",
        f'CASE WHEN isfinite("timestamp") AND "timestamp" >= 0 AND "timestamp" < {TS_MAX!r} '
        'THEN "timestamp" END',
    ]
    for key in list(INDEXED_FIELDS)[1:]:
        default = _DEFAULTS.get(key)
        value = '"request_model", "model"' if key == "model" else f'"{key}"'
        exprs.append(f"coalesce({value}, {default})" if default is not None else value)
    return "SELECT " + ",\n       ".join(exprs) + f"\nFROM {source}"
