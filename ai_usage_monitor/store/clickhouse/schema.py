"""The ClickHouse ``records`` table, generated from ``schema.INDEXED_FIELDS`` (the one list of indexed
columns), and ``migrate``: create or bring it up to date, idempotently, saying what it did.

Why this shape (docs/operations.md, "ClickHouse"): partitions by UTC month (old months drop whole);
sorted by day, model, function, then ``record_id``, so time ranges and per-model/function questions
read few granules; ``ReplacingMergeTree`` collapses a record shipped twice (same ``record_id``, day,
model, function) at merge time, and queries read ``FINAL`` for exact totals meanwhile.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, date, datetime

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store.clickhouse.client import ClickHouseClient
from ai_usage_monitor.store.dialect import CLICKHOUSE_DAY_KEY
from ai_usage_monitor.store.schema import INDEXED_FIELDS

__all__ = [
    "SCHEMA_VERSION",
    "TTL_MIN_VERSION",
    "apply_retention",
    "column_types",
    "drop_month_sql",
    "insert_columns",
    "migrate",
    "modify_ttl_sql",
    "records_ddl",
    "remove_ttl_sql",
]

#: Bumped when the ClickHouse schema changes in a way ``migrate`` must act on beyond adding columns.
SCHEMA_VERSION = 1
#: The first release with table TTLs; older servers get whole months dropped instead.
TTL_MIN_VERSION = (19, 6)

_SCALARS = {
    "DOUBLE": "Float64",
    "BIGINT": "Int64",
    "INTEGER": "Int32",
    "VARCHAR": "String",
    "BOOLEAN": "UInt8",
}
_TS_SECONDS = "toDateTime(toUInt32(ts), 'UTC')"
PARTITION_KEY = f"toYYYYMM({_TS_SECONDS})"
SORTING_KEY = f"({CLICKHOUSE_DAY_KEY}, model, ifNull(function, ''), record_id)"


def _has_default(key: str) -> bool:
    """A field with a non-None default is never NULL in the index (the ingest fills the default in)."""
    for f in dataclasses.fields(UsageRecord):
        if f.name == key:
            return f.default is not dataclasses.MISSING and f.default is not None
    return False


def _column_type(key: str, sql_type: str) -> str:
    if sql_type.endswith("[]"):  # a list: never NULL, empty when absent
        return f"Array({_SCALARS[sql_type[:-2]]})"
    base = _SCALARS[sql_type]
    return base if key == "timestamp" or _has_default(key) else f"Nullable({base})"


def column_types() -> dict[str, str]:
    """Column name → ClickHouse type of ``records``, in insert order (``timestamp`` is ``ts``)."""
    columns = {("ts" if k == "timestamp" else k): _column_type(k, t) for k, t in INDEXED_FIELDS.items()}
    columns["record_id"] = "String"
    return columns


def insert_columns() -> tuple[str, ...]:
    """The columns of a row made by ``rows.record_row``, in order."""
    return tuple(column_types())


def _ttl(retention_days: int) -> str:
    return f"{_TS_SECONDS} + INTERVAL {int(retention_days)} DAY"


def modify_ttl_sql(table: str, retention_days: int) -> str:
    """Set or change the TTL of ``table`` (servers from 19.6 on)."""
    return f"ALTER TABLE {table} MODIFY TTL {_ttl(retention_days)}"


def remove_ttl_sql(table: str) -> str:
    return f"ALTER TABLE {table} REMOVE TTL"


def drop_month_sql(table: str, month: int) -> str:
    """Drop the partition of ``month`` (``YYYYMM``) of ``table``: how an old server forgets old records."""
    return f"ALTER TABLE {table} DROP PARTITION {int(month):d}"


def records_ddl(table: str = "records", retention_days: int = 0, with_ttl: bool = True) -> str:
    """``CREATE TABLE`` of ``records`` (``table`` may be qualified), with a TTL when asked and retained."""
    columns = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in column_types().items())
    ttl = f"\nTTL {_ttl(retention_days)}" if with_ttl and retention_days > 0 else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n    {columns}\n)\n"
        f"ENGINE = ReplacingMergeTree()\nPARTITION BY {PARTITION_KEY}\nORDER BY {SORTING_KEY}{ttl}"
    )


def _schema_version_ddl(database: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.schema_version "
        "(version UInt32, applied_at DateTime, what String) ENGINE = TinyLog"
    )


def _existing_columns(client: ClickHouseClient, database: str) -> dict[str, str]:
    rows = client.execute(
        "SELECT name, type FROM system.columns WHERE database = ? AND table = 'records'", [database]
    )
    return {str(name): str(sql_type) for name, sql_type in rows}


def _recorded_version(client: ClickHouseClient, database: str) -> int:
    rows = client.execute(f"SELECT max(version), count() FROM {database}.schema_version")
    return int(rows[0][0]) if rows and rows[0][1] else 0


def _month_end(partition: int) -> float:
    year, month = divmod(partition, 100)
    following = date(year + month // 12, month % 12 + 1, 1)
    return datetime(following.year, following.month, 1, tzinfo=UTC).timestamp()


def apply_retention(
    client: ClickHouseClient, database: str, retention_days: int, supports_ttl: bool, now: float
) -> list[str]:
    """Keep ``retention_days`` of records: the table's TTL where the server has TTLs, else drop each month
    (partition) wholly older than that; returns what was done."""
    table = f"{database}.records"
    done: list[str] = []
    if supports_ttl:
        rows = client.execute(
            "SELECT engine_full FROM system.tables WHERE database = ? AND name = 'records'", [database]
        )
        engine = str(rows[0][0]) if rows else ""
        has_ttl = " TTL " in f" {engine} "
        days = int(retention_days)
        current = has_ttl and (f"toIntervalDay({days})" in engine or f"INTERVAL {days} DAY" in engine)
        if retention_days > 0 and not current:
            client.execute(modify_ttl_sql(table, retention_days))
            done.append(f"set the TTL of {table} to {retention_days} days")
        elif retention_days == 0 and has_ttl:
            client.execute(remove_ttl_sql(table))
            done.append(f"removed the TTL of {table} (index_retention_days = 0)")
        return done
    if retention_days <= 0:
        return done
    cutoff = now - retention_days * 86400
    parts = client.execute(
        "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = 'records' AND active",
        [database],
    )
    for (partition,) in sorted(parts):
        month = int(str(partition).strip("'"))
        if _month_end(month) <= cutoff:
            client.execute(drop_month_sql(table, month))
            done.append(f"dropped month {month} of {table} (older than {retention_days} days)")
    return done


def migrate(client: ClickHouseClient, retention_days: int = 0, *, now: float | None = None) -> list[str]:
    """Create the database and tables, add columns ``INDEXED_FIELDS`` gained, keep the retention; returns
    what was done, one line each (nothing when all was current). Safe to run again and concurrently."""
    database = client.database
    done: list[str] = []
    admin = ClickHouseClient(client.url, database="default")
    try:
        version = admin.check()
        if not admin.execute("SELECT count() FROM system.databases WHERE name = ?", [database])[0][0]:
            admin.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
            done.append(f"created database {database}")
    finally:
        admin.close()
    supports_ttl = version >= TTL_MIN_VERSION
    existing = _existing_columns(client, database)
    if not existing:
        client.execute(records_ddl(f"{database}.records", retention_days, with_ttl=supports_ttl))
        ttl = f", TTL {retention_days} days" if supports_ttl and retention_days > 0 else ""
        done.append(f"created table {database}.records (ReplacingMergeTree, by month{ttl})")
    else:
        for name, sql_type in column_types().items():
            have = existing.get(name)
            if have is None:
                client.execute(f"ALTER TABLE {database}.records ADD COLUMN {name} {sql_type}")
                done.append(f"added column {name} {sql_type}")
            elif have != sql_type:
                done.append(f"column {name} is {have}, expected {sql_type}: left as it is")
        done += apply_retention(
            client, database, retention_days, supports_ttl, time.time() if now is None else now
        )
    if not existing and not supports_ttl and retention_days > 0:
        done.append(f"server {'.'.join(map(str, version))} has no TTL: months past the retention are dropped")
    client.execute(_schema_version_ddl(database))
    if _recorded_version(client, database) < SCHEMA_VERSION or done:
        what = "; ".join(done) or "schema recorded"
        client.insert(
            f"{database}.schema_version",
            ("version", "applied_at", "what"),
            [(SCHEMA_VERSION, datetime.now(UTC).replace(microsecond=0), what[:1000])],
        )
    return done
