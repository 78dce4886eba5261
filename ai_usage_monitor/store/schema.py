"""The index's tables and the JSONL → column mapping, in one place so ingest and queries agree.

Only the fields the queries and exports use are indexed; random ids (request/trace/span id) stay in the
JSONL, which is the source of truth, and of ``record_id`` only a hash is kept, to count a record seen twice
once. ``tags`` are indexed as a list of strings, key and value joined by ``TAG_SEPARATOR`` (``tag_entry``),
so a ``key:value`` filter is an exact array-membership test; a tag longer than ``MAX_TAG_CHARS`` (a note,
not a label) is left out. A key missing from a line takes the ``UsageRecord`` default, so older and newer
record versions read alike. A line breaking the number rules (see ``ingest_select``) counts as corrupt.

``model`` is indexed as the one name a call is grouped, labelled and alerted by: the requested model. Older
records held the provider's answered name there and the requested one in ``request_model``; for them the
indexed ``model`` is ``request_model``.
"""

from __future__ import annotations

import dataclasses

from ai_usage_monitor.records import UsageRecord

__all__ = [
    "CHECKED_FIELDS",
    "INDEXED_FIELDS",
    "MAX_TAG_CHARS",
    "READ_COLUMNS",
    "RECORD_COLUMNS",
    "SCHEMA_SQL",
    "SCHEMA_VERSION",
    "TAG_SEPARATOR",
    "TS_MAX",
    "decode_tags",
    "ingest_select",
    "tag_entry",
]

#: Bumped whenever a table changes shape; an index of another version is rebuilt from the JSONL.
SCHEMA_VERSION = "4"

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
    "tags": "VARCHAR[]",
    "request_model": "VARCHAR",
    "error_type": "VARCHAR",
    "usage_missing": "BOOLEAN",
    "service": "VARCHAR",
    "host": "VARCHAR",
}

#: Between a tag's key and its value in the indexed ``tags`` list: a control character no sane key holds.
TAG_SEPARATOR = "\x1f"
#: Tags whose key and value together are longer are not indexed (so not filterable): labels are short.
MAX_TAG_CHARS = 256
#: How ``read_json`` reads a line's ``tags`` object (a value that is not an object reads as NULL).
_TAGS_READ_TYPE = "MAP(VARCHAR, VARCHAR)"


def tag_entry(key: str, value: str) -> str:
    """One tag as the index holds it (ingest writes, filters look up this same string)."""
    return f"{key}{TAG_SEPARATOR}{value}"


def decode_tags(entries: list[str] | None) -> dict[str, str]:
    """The ``tags`` dict back from the indexed list (``tag_entry``'s inverse)."""
    return dict(entry.split(TAG_SEPARATOR, 1) for entry in entries or () if TAG_SEPARATOR in entry)


#: SQL of ``tag_entry`` over every pair of the read ``tags`` map (the separator is chr(31)).
_TAGS_SQL = (
    f"[e.key || chr({ord(TAG_SEPARATOR)}) || e.value FOR e IN map_entries(tags)"
    f" IF length(e.key) + length(e.value) <= {MAX_TAG_CHARS}]"
)

#: The numeric fields held to the rules shared with the writer (a value breaking one makes the line corrupt):
#: ``timestamp`` finite, 0 <= ts < ``TS_MAX``; ``cost`` and ``duration_ms`` finite numbers >= 0 (missing or
#: null: the default); token counts null or integers >= 0. A string is never a number here.
CHECKED_FIELDS: tuple[str, ...] = tuple(
    k for k, t in INDEXED_FIELDS.items() if t in ("DOUBLE", "BIGINT") and k != "timestamp"
)

#: Column names of ``records`` that hold record fields (``timestamp`` is stored as ``ts``).
RECORD_COLUMNS: tuple[str, ...] = tuple("ts" if k == "timestamp" else k for k in INDEXED_FIELDS)


def _read_type(key: str, sql_type: str) -> str:
    if key == "timestamp" or key in CHECKED_FIELDS:
        return "JSON"
    return _TAGS_READ_TYPE if key == "tags" else sql_type


#: ``read_json``'s ``columns=``: explicit types, so nothing is sniffed and unknown keys are ignored. The
#: checked numbers come as raw JSON text, so that ``"1"``, ``NaN`` or ``1.5`` tokens can be told apart.
READ_COLUMNS = (
    "{"
    + ", ".join(f"'{k}': '{_read_type(k, t)}'" for k, t in INDEXED_FIELDS.items())
    + ", 'record_id': 'VARCHAR'}"
)

_columns_sql = ",\n    ".join(f"{'ts' if k == 'timestamp' else k} {t}" for k, t in INDEXED_FIELDS.items())

SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS files (
    file_id INTEGER, name VARCHAR, inode BIGINT, head BLOB, "offset" BIGINT,
    records BIGINT, corrupt BIGINT, duplicates BIGINT
);
CREATE TABLE IF NOT EXISTS records (
    file_id INTEGER,
    batch INTEGER,
    {_columns_sql},
    record_key UBIGINT
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


def _number(key: str, sql_type: str) -> str:
    return f'TRY_CAST("{key}"::VARCHAR AS {sql_type})'


def _valid(key: str) -> str:
    """SQL true when the raw JSON of ``key`` keeps the rules (``CHECKED_FIELDS``), NULL or false otherwise."""
    if INDEXED_FIELDS[key] == "BIGINT":
        as_int = _number(key, "BIGINT")
        return f'("{key}" IS NULL OR ({as_int} >= 0 AND {as_int} = {_number(key, "DOUBLE")}))'
    value = _number(key, "DOUBLE")
    return f'("{key}" IS NULL OR (isfinite({value}) AND {value} >= 0))'


def ingest_select(source: str) -> str:
    """``SELECT`` turning ``read_json`` rows of ``source`` (read with ``READ_COLUMNS``) into ``records`` rows.

    A line that is not a JSON object with a usable ``timestamp``, or that breaks a rule of
    ``CHECKED_FIELDS``, comes out with ``ts`` NULL so the caller can count it as corrupt. ``$names`` and
    ``$ids`` list each file read and the id of its record file.
    """
    ts = _number("timestamp", "DOUBLE")
    valid = " AND ".join(
        [f"isfinite({ts})", f"{ts} >= 0", f"{ts} < {TS_MAX!r}", *(_valid(k) for k in CHECKED_FIELDS)]
    )
    exprs = [
        "CAST(map_extract_value(MAP($names, $ids), filename) AS INTEGER)",
        "CAST($batch AS INTEGER)",
        f"CASE WHEN {valid} THEN {ts} END",
    ]
    for key in list(INDEXED_FIELDS)[1:]:
        value = _number(key, INDEXED_FIELDS[key]) if key in CHECKED_FIELDS else f'"{key}"'
        default = _DEFAULTS.get(key)
        if key == "model":
            value = '"request_model", "model"'
        elif key == "tags":
            value = _TAGS_SQL
        exprs.append(f"coalesce({value}, {default})" if default is not None else value)
    exprs.append("CASE WHEN record_id IS NOT NULL THEN hash(record_id) END")
    return "SELECT " + ",\n       ".join(exprs) + f"\nFROM {source}"
