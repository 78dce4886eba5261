"""The ClickHouse end of a shipper: record lines → ``records`` rows and batch inserts, by the store's own
conversion (``store/clickhouse``), so shipped rows equal what the ClickHouse backend expects."""

from __future__ import annotations

from typing import Any

from ai_usage_monitor.store.clickhouse import ClickHouseClient, insert_records, line_row
from ai_usage_monitor.store_url import StoreURL

__all__ = ["ClickHouseSink"]


class ClickHouseSink:
    """Inserts rows into the ``records`` table of the store at ``url``, one INSERT per batch."""

    def __init__(self, url: StoreURL, *, timeout: float = 60.0) -> None:
        self.target = url.redacted
        self.client = ClickHouseClient(url, send_receive_timeout=timeout)

    @staticmethod
    def row(line: bytes) -> Any:
        return line_row(line)

    def insert(self, rows: list[Any]) -> None:
        insert_records(self.client, rows, batch_rows=max(1, len(rows)))

    def close(self) -> None:
        self.client.close()
