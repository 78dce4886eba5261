"""The shipping loop: read new complete record lines, insert them in batches, and commit each file's offset
only after the insert was acknowledged. A kill loses nothing (the JSONL is the buffer) and at most one
batch is inserted again, which the table's de-duplication by ``record_id`` absorbs. An unreachable or
failing store is retried with backoff and logged once per outage; the app writing the JSONL never waits."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.ship.files import RecordFile, StreamReader, complete_lines, list_record_files
from ai_usage_monitor.ship.lines import parse_lines
from ai_usage_monitor.ship.positions import resume_position
from ai_usage_monitor.ship.state import Position, ShipState
from ai_usage_monitor.store.clickhouse.client import error_line

__all__ = ["ShipOptions", "ShipStats", "Shipper", "Sink"]

log = logging.getLogger("ai_usage_monitor.ship")


class Sink(Protocol):
    """Where records go: ``row`` turns a record line into the store's row (``None``: corrupt), ``insert``
    returns once the store acknowledged the rows and raises otherwise; ``target`` names it in logs."""

    target: str

    def row(self, line: bytes) -> Any: ...

    def insert(self, rows: list[Any]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ShipOptions:
    #: records per insert at most; a batch goes out when full or ``max_delay`` s after its first record
    batch_size: int = 20_000
    max_delay: float = 1.0
    #: seconds between two looks for new lines when there is nothing to ship
    poll_interval: float = 0.25
    #: bytes read from a file at a time
    read_bytes: int = 4 << 20
    #: backoff between failed inserts: from ``retry_min`` s, doubled up to ``retry_max`` s
    retry_min: float = 0.5
    retry_max: float = 30.0
    #: after a stop request, seconds to keep retrying the last batch before giving up on it (it stays in the
    #: JSONL and is shipped by the next run)
    stop_timeout: float = 10.0


@dataclass(slots=True)
class ShipStats:
    """Counters of this run (``/metrics``); ``failures`` counts failed insert attempts."""

    records: int = 0
    batches: int = 0
    failures: int = 0
    corrupt_lines: int = 0
    last_success: float | None = None


class Shipper:
    """Ships the records of one records folder to ``sink``; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        records_dir: Path,
        sink: Sink,
        state: ShipState,
        options: ShipOptions | None = None,
        *,
        after_insert: Callable[[int], None] | None = None,
    ) -> None:
        self.records_dir = Path(records_dir)
        self.sink = sink
        self.state = state
        self.options = options or ShipOptions()
        self.stats = ShipStats(last_success=state.last_success)
        #: called with the run's batch number once an insert is acknowledged, before its offsets are committed
        self._after_insert = after_insert
        #: how far each file was read into the buffer (ahead of ``state.files`` until the insert is done)
        self._read: dict[str, Position] = {s: dataclasses.replace(p) for s, p in state.files.items()}
        self._readers: dict[str, StreamReader] = {}
        self._buffer: list[Any] = []
        self._buffer_since = 0.0
        self._touched: set[str] = set()
        #: lines were read since the last commit (corrupt ones too, whose offsets need a commit as well)
        self._advanced = False
        self._down_since: float | None = None
        self._down_failures = 0
        #: read failures already logged (once each)
        self._unreadable: set[str] = set()

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        """Ship until ``stop`` is set, then what was written by then (for ``stop_timeout`` s at most)."""
        try:
            while not stop.is_set():
                self.fill()
                if self._due():
                    if not self.flush(stop):
                        return  # stopped while the store was failing: the batch stays in the JSONL
                    continue
                stop.wait(self._idle_wait())
            # stopping: ship what was written by then, for ``stop_timeout`` s at most
            deadline = time.monotonic() + self.options.stop_timeout
            self.fill()
            while (self._buffer or self._advanced) and self.flush(stop) and time.monotonic() < deadline:
                self.fill()
        finally:
            self.close_readers()

    def _due(self) -> bool:
        if not self._buffer:
            return self._advanced  # only corrupt lines: commit their offsets
        if len(self._buffer) >= self.options.batch_size:
            return True
        return time.monotonic() - self._buffer_since >= self.options.max_delay

    def _idle_wait(self) -> float:
        if not self._buffer:
            return self.options.poll_interval
        left = self.options.max_delay - (time.monotonic() - self._buffer_since)
        return max(0.0, min(self.options.poll_interval, left))

    # ------------------------------------------------------------------ reading
    def fill(self) -> None:
        """Read new complete lines of every record file, oldest first, until the batch is full."""
        for name, file in list_record_files(self.records_dir).items():
            if len(self._buffer) >= self.options.batch_size:
                return
            known = self._read.get(name)
            if known is not None and (known.inode, known.offset) == (file.inode, file.size):
                self._drop_reader(name)
                continue
            try:
                if file.size < 0:
                    raise EOFError("not a whole gzip file (yet)")
                self._read_file(file)
            except FileNotFoundError:  # moved meanwhile: found under its new name next time
                self._drop_reader(name)
            except (OSError, EOFError, zlib.error) as exc:  # unreadable, or a .gz being written: next time
                self._drop_reader(name)
                problem = f"{name}: {type(exc).__name__}: {exc}"
                if problem not in self._unreadable:
                    self._unreadable.add(problem)
                    log.warning("cannot read record file %s; it is tried again", problem)

    def _reader(self, file: RecordFile) -> StreamReader:
        reader = self._readers.get(file.name)
        if reader is not None and dataclasses.replace(reader.file, size=file.size) == file:
            reader.file = file
            return reader
        if reader is not None:
            reader.close()
        reader = self._readers[file.name] = StreamReader(file)
        return reader

    def _read_file(self, file: RecordFile) -> None:
        reader = self._reader(file)
        known = self._read.get(file.name)
        position = resume_position(file, reader, self._read)
        if known is not None and position.offset < known.offset:
            log.info("record file %s was replaced by another: shipping it from its start", file.name)
        self._read[file.name] = position
        self._touched.add(file.name)
        options = self.options
        while position.offset < file.size and len(self._buffer) < options.batch_size:
            chunk = complete_lines(reader, position.offset, options.read_bytes)
            if not chunk:
                break
            records, corrupt, used = parse_lines(chunk, options.batch_size - len(self._buffer), self.sink.row)
            if records and not self._buffer:
                self._buffer_since = time.monotonic()
            self._buffer.extend(records)
            self.stats.corrupt_lines += corrupt
            position.offset += used
            self._advanced = True
        if position.offset >= file.size:
            self._drop_reader(file.name)

    def _drop_reader(self, name: str) -> None:
        reader = self._readers.pop(name, None)
        if reader is not None:
            reader.close()

    def close_readers(self) -> None:
        for name in list(self._readers):
            self._drop_reader(name)

    # ------------------------------------------------------------------ shipping
    def flush(self, stop: threading.Event) -> bool:
        """Insert the buffer (retrying with backoff), then commit the offsets it was read up to. ``False``
        when ``stop`` was set and the insert still failed ``stop_timeout`` s later: nothing is committed."""
        records = self._buffer
        if records and not self._insert(records, stop):
            return False
        if records and self._after_insert is not None:
            self._after_insert(self.stats.batches + 1)
        self._commit(len(records))
        return True

    def _insert(self, records: list[Any], stop: threading.Event) -> bool:
        delay = self.options.retry_min
        give_up_at: float | None = None
        while True:
            try:
                self.sink.insert(records)
            except Exception as exc:
                self._failed(exc)
            else:
                self._recovered()
                return True
            if stop.is_set() and give_up_at is None:
                give_up_at = time.monotonic() + self.options.stop_timeout
            now = time.monotonic()
            if give_up_at is not None and now >= give_up_at:
                log.warning("stopping with %d records not shipped; the next run ships them", len(records))
                return False
            if give_up_at is None:
                stop.wait(delay)
            else:  # ``stop.wait`` no longer waits once stop is set: keep the backoff until the grace ends
                time.sleep(min(delay, give_up_at - now))
            delay = min(delay * 2, self.options.retry_max)

    def _failed(self, exc: Exception) -> None:
        self.stats.failures += 1
        self._down_failures += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "cannot ship to %s (%s: %s); records wait in the JSONL, retrying with backoff",
                self.sink.target,
                type(exc).__name__,
                error_line(exc),
            )

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        log.warning(
            "shipping to %s works again after %.1f s (%d failed attempts); catching up",
            self.sink.target,
            time.monotonic() - self._down_since,
            self._down_failures,
        )
        self._down_since = None
        self._down_failures = 0

    def _commit(self, count: int) -> None:
        """Record what the acknowledged insert holds: offsets, totals; saved atomically."""
        state = self.state
        for name in self._touched:
            state.files[name] = dataclasses.replace(self._read[name])
        now = time.time()
        if count:
            state.records += count
            state.batches += 1
            state.last_success = now
            self.stats.records += count
            self.stats.batches += 1
            self.stats.last_success = now
        self._buffer = []
        self._touched = set()
        self._advanced = False
        try:
            state.save()
        except OSError as exc:  # e.g. a full disk: offsets stay in memory, saved with the next batch
            handle_internal_error("ship.save_state", exc)
