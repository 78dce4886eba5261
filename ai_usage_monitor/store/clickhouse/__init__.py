"""The ClickHouse store backend: the ``records`` schema and its migration, JSONL lines → rows and batch
inserts (used by the ``ship`` sidecar), and the store that answers ``store/queries.py`` from it."""

from __future__ import annotations

from ai_usage_monitor.store.clickhouse.client import ClickHouseClient, StoreUnavailable, quiet_driver_log
from ai_usage_monitor.store.clickhouse.rows import Row, insert_records, line_row, record_row, rows_from_lines
from ai_usage_monitor.store.clickhouse.schema import SCHEMA_VERSION, insert_columns, migrate, records_ddl

__all__ = [
    "SCHEMA_VERSION",
    "ClickHouseClient",
    "Row",
    "StoreUnavailable",
    "insert_columns",
    "insert_records",
    "line_row",
    "migrate",
    "quiet_driver_log",
    "record_row",
    "records_ddl",
    "rows_from_lines",
]
