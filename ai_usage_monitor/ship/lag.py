"""How far behind a shipper is: per record file the bytes shipped and the bytes there are, and the age of
the oldest record not shipped yet (for ``ship --status`` and the shipper's ``/metrics``)."""

from __future__ import annotations

import contextlib
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from ai_usage_monitor.ship.files import RecordFile, StreamReader, complete_lines, list_record_files
from ai_usage_monitor.ship.positions import resume_position
from ai_usage_monitor.ship.state import Position

__all__ = ["FileLag", "Lag", "measure_lag"]

#: bytes read at an unshipped offset to find the timestamp of the record there
_PEEK_BYTES = 64 << 10


@dataclass(frozen=True, slots=True)
class FileLag:
    name: str
    shipped: int
    total: int

    @property
    def behind(self) -> int:
        return max(0, self.total - self.shipped)


@dataclass(frozen=True, slots=True)
class Lag:
    files: list[FileLag]
    #: when the oldest unshipped complete record was made (``None``: every complete record is shipped)
    oldest_unshipped: float | None
    now: float

    @property
    def bytes(self) -> int:
        return sum(f.behind for f in self.files)

    @property
    def seconds(self) -> float:
        return 0.0 if self.oldest_unshipped is None else max(0.0, self.now - self.oldest_unshipped)


def _shipped(file: RecordFile, committed: dict[str, Position]) -> tuple[int, StreamReader | None]:
    """Bytes of ``file`` already shipped, and a reader when some are left (the caller closes it)."""
    known = committed.get(file.name)
    if known is not None and (known.inode, known.offset) == (file.inode, file.size):
        return known.offset, None
    reader = StreamReader(file)
    try:
        return resume_position(file, reader, committed).offset, reader
    except BaseException:
        reader.close()
        raise


def _first_timestamp(reader: StreamReader, offset: int) -> float | None:
    """The timestamp of the first complete record line at or after ``offset``."""
    for line in complete_lines(reader, offset, _PEEK_BYTES).splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            record = orjson.loads(line)
            if isinstance(record, dict) and isinstance(record.get("timestamp"), int | float):
                return float(record["timestamp"])
    return None


def measure_lag(records_dir: Path, committed: dict[str, Position], now: float | None = None) -> Lag:
    """The lag of a shipper whose acknowledged offsets are ``committed``."""
    files: list[FileLag] = []
    oldest: float | None = None
    for file in list_record_files(records_dir).values():
        if file.size < 0:
            continue
        try:
            shipped, reader = _shipped(file, committed)
        except (OSError, EOFError, zlib.error):
            continue
        if reader is not None:
            try:
                if oldest is None and shipped < file.size:
                    oldest = _first_timestamp(reader, shipped)
            except (OSError, EOFError, zlib.error):
                pass
            finally:
                reader.close()
        files.append(FileLag(file.name, min(shipped, file.size), file.size))
    return Lag(files, oldest, time.time() if now is None else now)
