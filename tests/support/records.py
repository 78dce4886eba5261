"""Records on disk as the JSONL exporter lays them out (``usage_<local date>.jsonl``): writing them for a
test to read, and reading back what the monitor wrote, for assertions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson

from ai_usage_monitor.records import UsageRecord

__all__ = ["read_records", "record_file", "write_records"]


def record_file(records_dir: Path, tz: tzinfo, timestamp: float) -> Path:
    """The daily file a record of ``timestamp`` belongs in: its local date in ``tz``."""
    return records_dir / f"usage_{datetime.fromtimestamp(timestamp, tz).date().isoformat()}.jsonl"


def write_records(records_dir: Path, records: Iterable[UsageRecord], tz: tzinfo) -> None:
    """Append each record as one line to the file of its local date, as the JSONL exporter does."""
    records_dir.mkdir(parents=True, exist_ok=True)
    for record in records:
        with record_file(records_dir, tz, record.timestamp).open("ab") as out:
            out.write(record.to_json_line())


def read_records(records_dir: Path) -> list[dict[str, Any]]:
    """Every record line in every daily file of ``records_dir``, oldest file first; raises on a bad line."""
    lines: list[dict[str, Any]] = []
    for path in sorted(Path(records_dir).glob("usage_*.jsonl")):
        for raw in path.read_bytes().splitlines():
            lines.append(orjson.loads(raw))
    return lines
