"""UsageStore: an incremental DuckDB index over the ``usage_*.jsonl`` record files (docs/architecture.md §11).

Each file is tailed by byte offset: only complete lines are read (a torn last line waits for its
newline), corrupt lines are counted and skipped, a record glued behind a torn line is salvaged, a record
seen again (same ``record_id`` and timestamp) is counted once, and rows and offsets are committed in one
transaction, so a restart resumes where it stopped and nothing is read twice. Record files are read in
place or streamed through pipes, never copied, so a full disk stops only the index's own writes, and the
next refresh after space returns resumes. The JSONL stays the truth: ``rebuild()`` re-reads it all.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import duckdb
import orjson

from ai_usage_monitor.config import Settings
from ai_usage_monitor.store.backend import Progress
from ai_usage_monitor.store.cache import Fold, FoldCache
from ai_usage_monitor.store.day_files import GZ_SUFFIX, GzInfo, gunzip_range, gz_head, gz_info
from ai_usage_monitor.store.dialect import DUCKDB, Dialect
from ai_usage_monitor.store.queries import expired_counters
from ai_usage_monitor.store.schema import READ_COLUMNS, SCHEMA_SQL, SCHEMA_VERSION, ingest_select

__all__ = ["GZ_RECORD_FILE_RE", "RECORD_FILE_RE", "Progress", "UsageStore"]

log = logging.getLogger(__name__)

#: Record files the store reads: ``usage_YYYY-MM-DD.jsonl`` (and any other ``usage_*.jsonl`` but reports).
RECORD_FILE_RE = re.compile(r"usage_(?!report)[^/]*\.jsonl")
#: The same files gzipped by retention (``store/day_files.py``).
GZ_RECORD_FILE_RE = re.compile(RECORD_FILE_RE.pattern + re.escape(GZ_SUFFIX))


T = TypeVar("T")

DB_FILE_NAME = "usage.duckdb"
#: Bytes of record lines read by one statement (several files read in parallel), and per piece.
BATCH_BYTES = 512 << 20
PIECE_BYTES = 32 << 20
#: Pieces one statement reads through pipes at most (two descriptors and a thread each).
MAX_PIPES = 32
#: A file untouched this many seconds, read whole, is read in place rather than through a pipe.
DIRECT_MIN_AGE = 2.0
_HEAD_BYTES = 64
#: rows fetched at a time by ``stream``
_FETCH_ROWS = 10_000
_SCAN_BLOCK = 1 << 16
#: bytes a feed reads and writes at a time (and its pipe's size where the system allows)
_FEED_BLOCK = 1 << 20
_SET_PIPE_SIZE: int | None = getattr(fcntl, "F_SETPIPE_SZ", None)
#: bytes of a file scanned at a time for records glued behind a torn line
_SALVAGE_BLOCK = 4 << 20
#: where a record line starts: ``UsageRecord``'s first key (inside a string orjson escapes the quotes)
_RECORD_START = b'{"timestamp":'
_NEWLINE = ord("\n")

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(key: str) -> threading.Lock:
    """One lock per index file and process: stores sharing a DuckDB file must not ingest at once."""
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


@dataclass(slots=True)
class _Piece:
    file_id: int
    fd: int
    start: int
    end: int
    #: ``path`` of a whole, settled file DuckDB may read in place (checked unchanged before commit)
    path: str | None = None
    inode: int = 0
    #: ``fd`` is a gzip file and ``start``/``end`` are offsets in its decompressed content
    gz: bool = False


@dataclass(slots=True)
class _FileState:
    file_id: int
    name: str
    inode: int
    head: bytes
    offset: int


class _ChangedUnderUs(Exception):
    """A file shrank or was replaced between planning and copying; it is looked at again next refresh."""


def _last_newline(fd: int, start: int, end: int) -> int:
    """Offset just past the last ``\\n`` in ``[start, end)`` of ``fd``, or ``start`` when there is none."""
    pos = end
    while pos > start:
        lo = max(start, pos - _SCAN_BLOCK)
        block = os.pread(fd, pos - lo, lo)
        i = block.rfind(b"\n")
        if i >= 0:
            return lo + i + 1
        pos = lo
    return start


def _newline_after(fd: int, pos: int, end: int) -> int:
    """Offset just past the first ``\\n`` at or after ``pos`` (``end`` when none before it)."""
    while pos < end:
        block = os.pread(fd, min(_SCAN_BLOCK, end - pos), pos)
        i = block.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(block)
    return end


@dataclass(slots=True)
class _Range:
    """Bytes ``[start, end)`` of the open file ``fd``."""

    fd: int
    start: int
    end: int
    gz: bool = False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _send_range(source: _Range, write_fd: int) -> None:
    """Move ``source`` into the pipe ``write_fd`` (in the kernel where it can); ``_ChangedUnderUs`` if the
    file came short."""
    if source.gz:
        sent = source.start
        for chunk in gunzip_range(source.fd, source.start, source.end):
            _write_all(write_fd, chunk)
            sent += len(chunk)
        if sent < source.end:
            raise _ChangedUnderUs
        return
    pos = source.start
    splice: Callable[..., int] | None = getattr(os, "splice", None)
    while pos < source.end:
        size = min(_FEED_BLOCK, source.end - pos)
        if splice is not None:
            try:
                n = splice(source.fd, write_fd, size, offset_src=pos)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                splice = None
                continue
        else:
            data = os.pread(source.fd, size, pos)
            _write_all(write_fd, data)
            n = len(data)
        if n == 0:
            raise _ChangedUnderUs
        pos += n


class _Feed:
    """Bytes streamed to DuckDB through a pipe (read as ``/dev/fd/N``): nothing is copied to disk, so ingest
    needs no free space beyond what the index itself grows by."""

    def __init__(self, source: _Range | bytes) -> None:
        self._read_fd, write_fd = os.pipe()
        if _SET_PIPE_SIZE is not None:
            with contextlib.suppress(OSError):  # larger pipes mean fewer wake-ups; the default works too
                fcntl.fcntl(write_fd, _SET_PIPE_SIZE, _FEED_BLOCK)
        self.path = f"/dev/fd/{self._read_fd}"
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._pump, args=(source, write_fd), name="ai-usage-feed", daemon=True
        )
        self._thread.start()

    def _pump(self, source: _Range | bytes, write_fd: int) -> None:
        try:
            if isinstance(source, bytes):
                _write_all(write_fd, source)
            else:
                _send_range(source, write_fd)
        except BrokenPipeError:  # the reader stopped (its statement failed): nothing left to do
            pass
        except BaseException as exc:
            self.error = exc
        finally:
            os.close(write_fd)

    def close(self) -> None:
        """Stop feeding (a writer still blocked gets EPIPE) and wait for the pump; raise what it met."""
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1
        self._thread.join()
        if self.error is not None:
            raise self.error


@contextlib.contextmanager
def _feeds(sources: list[_Range] | list[bytes]) -> Iterator[list[_Feed]]:
    """One ``_Feed`` per source, all closed (and their errors raised) on the way out."""
    feeds: list[_Feed] = []
    try:
        for source in sources:
            feeds.append(_Feed(source))
        yield feeds
    finally:
        errors = []
        for feed in feeds:
            try:
                feed.close()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def _read_source(direct: bool, piped: list[str]) -> str:
    """The ``FROM`` of an ingest: the files in ``$direct`` read in parallel, then each pipe of ``piped``
    (DuckDB reads only one pipe per ``read_json``)."""
    options = f"columns = {READ_COLUMNS}, format = 'newline_delimited', ignore_errors = true, filename = true"
    parts = [f"SELECT * FROM read_json($direct, {options})"] if direct else []
    parts += [f"SELECT * FROM read_json('{path}', {options})" for path in piped]
    return "(" + "\nUNION ALL ".join(parts) + ")"


def _line_blocks(source: _Range) -> Iterator[bytes]:
    """``source`` in blocks of about ``_SALVAGE_BLOCK`` bytes, each ending at a line end (or the range's)."""
    if source.gz:
        rest = b""
        for chunk in gunzip_range(source.fd, source.start, source.end):
            rest += chunk
            if len(rest) >= _SALVAGE_BLOCK:
                cut = rest.rfind(b"\n") + 1
                if cut:
                    yield rest[:cut]
                    rest = rest[cut:]
        if rest:
            yield rest
        return
    pos, end = source.start, source.end
    while pos < end:
        cut = _newline_after(source.fd, pos + _SALVAGE_BLOCK, end) if end - pos > _SALVAGE_BLOCK else end
        yield os.pread(source.fd, cut - pos, pos)
        pos = cut


def _glued_records(source: _Range) -> list[bytes]:
    """Records glued behind a torn line in ``source`` (``{"timestamp":`` past a line's start): for each such
    line, the last such suffix that parses as a JSON object (an earlier one when the last is a nested ``tags``
    key). A line of a well-formed record never yields one: its nested objects are followed by its own closing
    brace."""
    found: list[bytes] = []
    for block in _line_blocks(source):
        candidates: dict[int, list[int]] = {}
        at = block.find(_RECORD_START)
        while at >= 0:
            if at > 0 and block[at - 1] != _NEWLINE:
                candidates.setdefault(block.rfind(b"\n", 0, at) + 1, []).append(at)
            at = block.find(_RECORD_START, at + 1)
        for line_start, starts in candidates.items():
            line_end = block.find(b"\n", line_start)
            line = block[line_start : line_end if line_end >= 0 else len(block)]
            for at in reversed(starts):
                suffix = line[at - line_start :]
                try:
                    parsed = orjson.loads(suffix)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(parsed, dict):
                    found.append(suffix)
                    break
    return found


class UsageStore:
    """The record index. Thread-safe: queries run on one DuckDB cursor per thread, ingest is serialised."""

    def __init__(self, settings: Settings, *, read_only: bool = False, memory_limit: str = "512MB") -> None:
        self.settings = settings
        self.tz: tzinfo = settings.tz
        self.records_dir = Path(settings.records_dir)
        self.read_only = read_only
        self._db_file = Path(settings.index_path) / DB_FILE_NAME
        self._temp_root: Path | None = None
        self.mode, self._con = self._connect(read_only)
        self._lock = (
            _process_lock(str(self._db_file.resolve())) if self.mode != "memory" else threading.Lock()
        )
        self._local = threading.local()
        #: ``expired``'s answers, read from ``meta`` on first use
        self._expired: dict[str, Any] | None = None
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._tail_thread: threading.Thread | None = None
        self._tail_stop = threading.Event()
        self._last_refresh: float | None = None
        self._caught_up_at: float | None = None
        self._pending_partial = 0
        self._last_error: str | None = None
        self._logged_errors: set[str] = set()
        self._closed = False
        self.bytes_read = 0
        #: gzip record files that could not be read, by name: (inode, size, mtime) when tried
        self._unreadable_gz: dict[str, tuple[int, int, float]] = {}
        #: rows dropped by ``drop_before`` since the store was opened
        self.rows_expired = 0
        con = self._con
        temp_dir = self._temp_dir()
        con.execute(f"SET memory_limit = '{_checked_size(memory_limit)}'")
        con.execute("SET temp_directory = ?", [str(temp_dir / "duckdb")])
        # Lets ingest insert in parallel; rows stay grouped by batch, so time-range pruning still works.
        con.execute("SET preserve_insertion_order = false")
        if self.mode != "read_only":
            self._ensure_schema()
        #: all-time and open-range aggregates, folded forward per ingest batch (see ``incremental``)
        self._aggregates = FoldCache(self._read_committed_batch())

    # ---------------------------------------------------------------- opening
    def _connect(self, read_only: bool) -> tuple[str, duckdb.DuckDBPyConnection]:
        try:
            if read_only:
                return "read_only", duckdb.connect(str(self._db_file), read_only=True)
            self._db_file.parent.mkdir(parents=True, exist_ok=True)
            return "file", duckdb.connect(str(self._db_file))
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            # Another process holds the index (or it does not exist yet for a read-only open): keep a private
            # in-memory index instead of failing; it tails the same JSONL.
            log.warning("record index %s unavailable (%s); using an in-memory index", self._db_file, exc)
            return "memory", duckdb.connect(":memory:")

    def _temp_dir(self) -> Path:
        if self._temp_root is None:
            if self.mode == "file":
                self._temp_root = self._db_file.parent / "tmp"
                self._temp_root.mkdir(parents=True, exist_ok=True)
            else:
                self._temp_root = Path(tempfile.mkdtemp(prefix="ai-usage-index-"))
        return self._temp_root

    def _ensure_schema(self) -> None:
        con = self._con
        con.execute(SCHEMA_SQL)
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and row[0] != SCHEMA_VERSION:
            log.warning("record index schema %s is outdated: rebuilding from the JSONL", row[0])
            con.execute("DROP TABLE records; DROP TABLE files; DROP TABLE meta")
            con.execute(SCHEMA_SQL)
            row = None
        if row is None:
            con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?), ('next_batch', '1')",
                [SCHEMA_VERSION],
            )

    # ---------------------------------------------------------------- cursors
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's DuckDB cursor (made on first use)."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            if self._closed:
                raise RuntimeError("the usage store is closed")
            cur = self._con.cursor()
            with self._cursors_lock:
                self._cursors.append(cur)
            self._local.cursor = cur
        return cur

    def query(self, sql: str, params: object = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` on this thread's cursor and return all rows."""
        return self.cursor().execute(sql, params).fetchall()

    @contextlib.contextmanager
    def private_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own, for a result read lazily (the thread's cursor may be reused meanwhile)."""
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def stream(self, sql: str, params: object = None) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` read lazily, ``_FETCH_ROWS`` at a time, on a cursor of their own."""
        with self.private_cursor() as cur:
            cur.execute(sql, params)
            while batch := cur.fetchmany(_FETCH_ROWS):
                yield from batch

    @property
    def dialect(self) -> Dialect:
        return DUCKDB

    # ---------------------------------------------------------------- all-time aggregates
    def _read_committed_batch(self) -> int:
        try:
            row = self.query("SELECT CAST(value AS INTEGER) - 1 FROM meta WHERE key = 'next_batch'")
        except duckdb.CatalogException:  # a read-only open of an index without tables yet
            return 0
        return int(row[0][0]) if row else 0

    def committed_batch(self) -> int:
        """The newest ingest batch whose rows are visible (batches only grow, until a rebuild)."""
        return self._aggregates.committed

    def incremental(self, key: Hashable, fold: Fold[T], *, keep: bool = True, recomputes: bool = False) -> T:
        """An aggregate kept up to date by folding in only the batches ingested since.

        ``fold(after_batch, upto_batch, previous)`` returns the aggregate over batches ``<= upto_batch``
        given ``previous`` over batches ``<= after_batch`` (``None`` the first time). ``keep``: an all-time
        aggregate, kept until a rebuild; otherwise (e.g. one per time range) the least recently used of
        those are dropped beyond a few dozen. An aggregate asked for lately is folded forward right after
        each ingest (``refresh``); one whose ``fold`` ``recomputes`` it whole only if that is quick.
        """
        return self._aggregates.get(key, fold, keep=keep, recomputes=recomputes)

    def _invalidate(self) -> None:
        self._aggregates.reset(self._read_committed_batch())

    # ---------------------------------------------------------------- ingest
    def refresh(self, progress: Progress | None = None) -> int:
        """Ingest every complete line appended since the last refresh, then fold the new batches into the
        cached aggregates asked for lately; returns how many records were added."""
        if self.mode == "read_only":
            return 0
        with self._lock:
            try:
                added = self._refresh_locked(progress)
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
                if self._last_error not in self._logged_errors:
                    self._logged_errors.add(self._last_error)
                    log.exception("record index refresh failed")
                raise
            if self._last_error is not None:  # e.g. space returned after a full disk
                log.warning("record index refresh works again after: %s", self._last_error)
                self._logged_errors.clear()  # a later failure is logged again
            self._last_error = None
        # Outside the ingest lock: queries may fold the same aggregates meanwhile (one lock each).
        self._aggregates.catch_up()
        return added

    def _known_files(self, cur: duckdb.DuckDBPyConnection) -> dict[str, _FileState]:
        rows = cur.execute('SELECT file_id, name, inode, head, "offset" FROM files').fetchall()
        return {r[1]: _FileState(r[0], r[1], r[2], bytes(r[3] or b""), r[4]) for r in rows}

    def _refresh_locked(self, progress: Progress | None) -> int:
        cur = self.cursor()
        started = time.time()
        known = self._known_files(cur)
        next_id = max((f.file_id for f in known.values()), default=0) + 1
        pieces: list[_Piece] = []
        fds: list[int] = []
        pending = 0
        resets: list[_FileState] = []
        new_files: list[_FileState] = []
        #: gzip files read to their end before, under another name or inode: their row is updated
        settled: list[_FileState] = []
        try:
            names = sorted(
                e.name
                for e in os.scandir(self.records_dir)
                if e.is_file() and (RECORD_FILE_RE.fullmatch(e.name) or GZ_RECORD_FILE_RE.fullmatch(e.name))
            )
        except FileNotFoundError:
            names = []
        present = set(names)
        try:
            for name in names:
                try:
                    fd = os.open(self.records_dir / name, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                fds.append(fd)
                st = os.fstat(fd)
                if name.endswith(GZ_SUFFIX):
                    plan = self._plan_gz(name, fd, st, known, present)
                    if plan is None:
                        continue
                    gz_state, kind, info = plan
                    if kind == "new":
                        gz_state.file_id = next_id
                        next_id += 1
                        new_files.append(gz_state)
                    elif kind == "reset":
                        resets.append(gz_state)
                    if info.end > gz_state.offset:
                        pieces.append(_Piece(gz_state.file_id, fd, gz_state.offset, info.end, gz=True))
                    else:
                        settled.append(gz_state)
                    continue
                state = known.get(name)
                if state is not None and self._replaced(fd, st, state):
                    log.info("record file %s was truncated or replaced: reading it again", name)
                    state.offset, state.inode, state.head = 0, st.st_ino, b""
                    resets.append(state)
                if state is None:
                    state = _FileState(next_id, name, st.st_ino, b"", 0)
                    next_id += 1
                    new_files.append(state)
                    known[name] = state
                if not state.head and st.st_size > 0:
                    state.head = os.pread(fd, _HEAD_BYTES, 0)
                size = st.st_size
                if size <= state.offset:
                    continue
                end = _last_newline(fd, state.offset, size)
                if end < size:
                    pending += 1
                if state.offset == 0 and end == size and started - st.st_mtime > DIRECT_MIN_AGE:
                    pieces.append(_Piece(state.file_id, fd, 0, end, str(self.records_dir / name), st.st_ino))
                    continue
                pos = state.offset
                while pos < end:
                    cut = _newline_after(fd, pos + PIECE_BYTES, end) if end - pos > PIECE_BYTES else end
                    pieces.append(_Piece(state.file_id, fd, pos, cut))
                    pos = cut
            if resets and self._forget_if_deduplicated(cur):
                return self._refresh_locked(progress)
            self._register_files(cur, new_files, resets)
            self._settle(cur, settled)
            added = self._ingest(cur, pieces, {f.file_id: f for f in known.values()}, progress)
        finally:
            for fd in fds:
                os.close(fd)
        self._pending_partial = pending
        self._caught_up_at = started
        self._last_refresh = time.time()
        return added

    def _plan_gz(
        self, name: str, fd: int, st: os.stat_result, known: dict[str, _FileState], present: set[str]
    ) -> tuple[_FileState, str, GzInfo] | None:
        """How to read the gzip day file ``name``: ``None`` (nothing to do now), or its state (name and inode
        already the gzip file's, ``file_id`` to be set for a new one), what it is (``new``, ``reset``: read it
        again from the start, ``continued``: it holds the lines already read, and maybe more) and its content.

        A gzip file is never appended to, so one whose inode the registry holds was read to its end. One that
        replaces the plain file already read (retention compressed it) takes over that file's row: the lines
        read stay counted once, and only lines past them are read.
        """
        state = known.get(name)
        if state is not None and state.inode == st.st_ino:
            return None
        seen = (st.st_ino, st.st_size, st.st_mtime)
        if self._unreadable_gz.get(name) == seen:
            return None
        plain = name.removesuffix(GZ_SUFFIX)
        try:
            if (
                state is None
                and plain in present
                and _head_of(self.records_dir / plain) == gz_head(fd, _HEAD_BYTES)
            ):
                return None  # being compressed: the plain file is read until it is gone
            info = gz_info(fd, _HEAD_BYTES)
        except (EOFError, zlib.error, OSError) as exc:
            self._unreadable_gz[name] = seen
            self._log_once(f"record file {name} is not a readable gzip file ({exc}); it is skipped")
            return None
        kind = "continued"
        if state is None:
            state = known.get(plain) if plain not in present else None
            if state is None or not _holds(info, state):
                state = _FileState(0, name, st.st_ino, info.head, 0)
                known[name] = state
                return state, "new", info
            del known[plain]
            known[name] = state
        elif not _holds(info, state):
            log.info("record file %s was replaced: reading it again", name)
            state.offset, state.head = 0, b""
            kind = "reset"
        state.name, state.inode, state.head = name, st.st_ino, info.head
        return state, kind, info

    def _log_once(self, message: str) -> None:
        if message not in self._logged_errors:
            self._logged_errors.add(message)
            log.warning("%s", message)

    @staticmethod
    def _settle(cur: duckdb.DuckDBPyConnection, settled: list[_FileState]) -> None:
        """Record the new name and inode of gzip files that hold nothing past what was read."""
        if not settled:
            return
        cur.execute("BEGIN")
        try:
            for f in settled:
                cur.execute(
                    "UPDATE files SET name = ?, inode = ? WHERE file_id = ?", [f.name, f.inode, f.file_id]
                )
            cur.execute("COMMIT")
        except BaseException:
            _rollback(cur)
            raise

    @staticmethod
    def _replaced(fd: int, st: os.stat_result, state: _FileState) -> bool:
        if st.st_ino != state.inode or st.st_size < state.offset:
            return True
        if state.head and state.offset > 0:
            return os.pread(fd, len(state.head), 0) != state.head
        return False

    def _forget_if_deduplicated(self, cur: duckdb.DuckDBPyConnection) -> bool:
        """Before a file is read again: if any record was dropped as a duplicate, its kept copy may be in that
        file, so forget every file (all are read again). Returns whether it did."""
        if not cur.execute("SELECT coalesce(sum(duplicates), 0) FROM files").fetchall()[0][0]:
            return False
        log.info("a record file was replaced and duplicates were dropped before: reading every file again")
        cur.execute("BEGIN")
        try:
            cur.execute("DELETE FROM records")
            cur.execute("DELETE FROM files")
            cur.execute("COMMIT")
        except BaseException:
            _rollback(cur)
            raise
        self._invalidate()
        return True

    def _register_files(
        self, cur: duckdb.DuckDBPyConnection, new_files: list[_FileState], resets: list[_FileState]
    ) -> None:
        """Add rows for new files; forget what was read of truncated or replaced ones."""
        if not (resets or new_files):
            return
        cur.execute("BEGIN")
        try:
            for f in resets:
                cur.execute("DELETE FROM records WHERE file_id = ?", [f.file_id])
                cur.execute("DELETE FROM files WHERE file_id = ?", [f.file_id])
            for f in [*new_files, *resets]:
                # a gzip file's inode is recorded once it is read to its end (see ``_plan_gz``)
                inode = 0 if f.name.endswith(GZ_SUFFIX) else f.inode
                cur.execute(
                    "INSERT INTO files VALUES (?, ?, ?, ?, ?, 0, 0, 0)",
                    [f.file_id, f.name, inode, f.head, 0],
                )
            cur.execute("COMMIT")
        except BaseException:
            _rollback(cur)
            raise
        if resets:
            self._invalidate()

    def _ingest(
        self,
        cur: duckdb.DuckDBPyConnection,
        pieces: list[_Piece],
        by_id: dict[int, _FileState],
        progress: Progress | None,
    ) -> int:
        total = sum(p.end - p.start for p in pieces)
        if progress is not None:
            progress(0, total)
        batches: list[list[_Piece]] = []
        batch_bytes = batch_pipes = 0
        for piece in pieces:
            size = piece.end - piece.start
            if not batches or batch_bytes + size > BATCH_BYTES or batch_pipes >= MAX_PIPES:
                batches.append([])
                batch_bytes = batch_pipes = 0
            batches[-1].append(piece)
            batch_bytes += size
            batch_pipes += piece.path is None
        added = done = 0
        for batch in batches:
            try:
                try:
                    added += self._ingest_batch(cur, batch, by_id, in_place=True)
                except _ChangedUnderUs:
                    # a file read in place was appended to meanwhile: read the batch again, through pipes,
                    # at most MAX_PIPES of them at a time
                    for first in range(0, len(batch), MAX_PIPES):
                        part = batch[first : first + MAX_PIPES]
                        added += self._ingest_batch(cur, part, by_id, in_place=False)
            except _ChangedUnderUs:
                log.info("a record file changed while being read; it is read again next time")
            done += sum(p.end - p.start for p in batch)
            if progress is not None:
                progress(done, total)
        return added

    def _ingest_batch(
        self,
        cur: duckdb.DuckDBPyConnection,
        batch: list[_Piece],
        by_id: dict[int, _FileState],
        in_place: bool,
    ) -> int:
        """Read ``batch`` into the index in one transaction: rows, corrupt and duplicate counts, offsets."""
        ends: dict[int, int] = {}
        for piece in batch:
            ends[piece.file_id] = max(ends.get(piece.file_id, 0), piece.end)
        direct = [p for p in batch if in_place and p.path is not None]
        piped = [p for p in batch if not (in_place and p.path is not None)]
        cur.execute("BEGIN")
        try:
            batch_no = int(cur.execute("SELECT value FROM meta WHERE key = 'next_batch'").fetchall()[0][0])
            with _feeds([_Range(p.fd, p.start, p.end, p.gz) for p in piped]) as feeds:
                paths = [p.path for p in direct] + [f.path for f in feeds]
                cur.execute(
                    "INSERT INTO records "
                    + ingest_select(_read_source(bool(direct), [f.path for f in feeds])),
                    {
                        **({"direct": paths[: len(direct)]} if direct else {}),
                        "names": paths,
                        "ids": [p.file_id for p in (*direct, *piped)],
                        "batch": batch_no,
                    },
                )
            for piece in direct:
                assert piece.path is not None
                st = os.stat(piece.path)
                if st.st_ino != piece.inode or st.st_size != piece.end:
                    raise _ChangedUnderUs
            counts = self._batch_counts(cur, batch_no)
            if any(bad for _, bad in counts.values()):
                self._salvage(cur, [p for p in batch if counts.get(p.file_id, (0, 0))[1]], batch_no)
                counts = self._batch_counts(cur, batch_no)
                cur.execute("DELETE FROM records WHERE batch = ? AND ts IS NULL", [batch_no])
            duplicates = self._drop_duplicates(cur, batch_no)
            for file_id, end in ends.items():
                good, bad = counts.get(file_id, (0, 0))
                dup = duplicates.get(file_id, 0)
                state = by_id[file_id]
                cur.execute(
                    'UPDATE files SET name = ?, inode = ?, "offset" = ?, head = ?, records = records + ?, '
                    "corrupt = corrupt + ?, duplicates = duplicates + ? WHERE file_id = ?",
                    [state.name, state.inode, end, state.head, good - dup, bad, dup, file_id],
                )
            cur.execute("UPDATE meta SET value = ? WHERE key = 'next_batch'", [str(batch_no + 1)])
            cur.execute("COMMIT")
        except BaseException:
            _rollback(cur)
            raise
        self._aggregates.advance(batch_no)
        for file_id, end in ends.items():
            by_id[file_id].offset = end
        self.bytes_read += sum(p.end - p.start for p in batch)
        return sum(good for good, _ in counts.values()) - sum(duplicates.values())

    @staticmethod
    def _batch_counts(cur: duckdb.DuckDBPyConnection, batch_no: int) -> dict[int, tuple[int, int]]:
        """File id → (usable rows, corrupt rows) of batch ``batch_no``."""
        rows = cur.execute(
            "SELECT file_id, count(ts), count(*) - count(ts) FROM records WHERE batch = ? GROUP BY file_id",
            [batch_no],
        ).fetchall()
        return {fid: (good, bad) for fid, good, bad in rows}

    @staticmethod
    def _salvage(cur: duckdb.DuckDBPyConnection, pieces: list[_Piece], batch_no: int) -> None:
        """Add the records glued behind torn lines in ``pieces`` (files with corrupt lines) to the batch; the
        torn line itself stays counted as corrupt."""
        found: dict[int, list[bytes]] = {}
        for piece in pieces:
            found.setdefault(piece.file_id, []).extend(
                _glued_records(_Range(piece.fd, piece.start, piece.end, piece.gz))
            )
        found = {fid: lines for fid, lines in found.items() if lines}
        if not found:
            return
        log.info("salvaged %d records glued behind torn lines", sum(map(len, found.values())))
        with _feeds([b"\n".join(lines) + b"\n" for lines in found.values()]) as feeds:
            cur.execute(
                "INSERT INTO records " + ingest_select(_read_source(False, [f.path for f in feeds])),
                {"names": [f.path for f in feeds], "ids": list(found), "batch": batch_no},
            )

    @staticmethod
    def _drop_duplicates(cur: duckdb.DuckDBPyConnection, batch_no: int) -> dict[int, int]:
        """Delete the rows of batch ``batch_no`` whose record (``record_id`` and timestamp) was indexed
        before or earlier in the batch; returns how many per file id."""
        lo, hi, keyed = cur.execute(
            "SELECT min(ts), max(ts), count(record_key) FROM records WHERE batch = ?", [batch_no]
        ).fetchall()[0]
        if not keyed:
            return {}
        # The usual answer, no duplicate, in one cheap statement: each row of the batch pairs only with
        # itself among the rows of its time range (literal bounds: the scan skips other row groups).
        window = f"ts BETWEEN {lo!r} AND {hi!r}"
        (matches,) = cur.execute(
            f"SELECT count(*) FROM records o "
            f"JOIN (SELECT record_key FROM records WHERE batch = {batch_no:d}) USING (record_key) "
            f"WHERE o.batch <= {batch_no:d} AND o.{window}"
        ).fetchall()[0]
        if matches == keyed:
            return {}
        fresh = f"""fresh AS (
                SELECT rowid AS r, file_id, ts, record_key FROM records
                WHERE batch = {batch_no:d} AND record_key IS NOT NULL
            ), seen AS (
                SELECT fresh.r FROM fresh
                JOIN records o ON o.record_key = fresh.record_key AND o.ts = fresh.ts
                WHERE o.batch < {batch_no:d} AND o.{window}
            )"""
        cur.execute(
            f"""CREATE OR REPLACE TEMP TABLE ingest_duplicates AS
            WITH {fresh}, kept AS (SELECT min(r) AS r FROM fresh GROUP BY record_key, ts)
            SELECT r, file_id FROM fresh
            WHERE r NOT IN (SELECT r FROM kept) OR r IN (SELECT r FROM seen)"""
        )
        try:
            per_file = dict(
                cur.execute("SELECT file_id, count(*) FROM ingest_duplicates GROUP BY file_id").fetchall()
            )
            if per_file:
                cur.execute("DELETE FROM records WHERE rowid IN (SELECT r FROM ingest_duplicates)")
        finally:
            cur.execute("DROP TABLE ingest_duplicates")
        return {int(k): int(v) for k, v in per_file.items()}

    def rebuild(self, progress: Progress | None = None) -> int:
        """Forget everything indexed and read all record files again; returns how many records were read."""
        if self.mode == "read_only":
            raise RuntimeError("a read-only store cannot rebuild its index")
        with self._lock:
            cur = self.cursor()
            cur.execute("BEGIN")
            cur.execute("DROP TABLE records; DROP TABLE files; DROP TABLE meta")
            cur.execute("COMMIT")
            self._expired = None
            self._ensure_schema()
            self._invalidate()
            if self.mode == "file":
                cur.execute("CHECKPOINT")
        return self.refresh(progress)

    # ---------------------------------------------------------------- retention
    def drop_before(self, cutoff: float, *, dry_run: bool = False) -> int:
        """Delete the rows of records older than ``cutoff`` (Unix seconds; ``index_retention_days``) and
        forget the cached aggregates; the files stay registered, so they are not read again. Returns how many
        rows were (``dry_run``: would be) deleted."""
        if self.mode == "read_only":
            raise RuntimeError("a read-only store cannot drop rows")
        with self._lock:
            cur = self.cursor()
            (count,) = cur.execute("SELECT count(*) FROM records WHERE ts < ?", [cutoff]).fetchall()[0]
            if dry_run or not count:
                return int(count)
            cur.execute("BEGIN")
            try:
                # what the rows added to /metrics' counters stays counted (in ``meta``), so none goes down
                expired = expired_counters(self, cutoff)
                for name, acc in expired.items():
                    cur.execute("DELETE FROM meta WHERE key = ?", [_EXPIRED_KEY + name])
                    cur.execute("INSERT INTO meta VALUES (?, ?)", [_EXPIRED_KEY + name, _dump_acc(acc)])
                cur.execute(
                    "UPDATE files SET records = files.records - gone.n FROM "
                    "(SELECT file_id, count(*) AS n FROM records WHERE ts < ? GROUP BY file_id) AS gone "
                    "WHERE files.file_id = gone.file_id",
                    [cutoff],
                )
                cur.execute("DELETE FROM records WHERE ts < ?", [cutoff])
                cur.execute("COMMIT")
            except BaseException:
                _rollback(cur)
                raise
            self._expired = expired
            self._invalidate()
            self.rows_expired += int(count)
        return int(count)

    def expired(self, name: str) -> Any:
        """What rows dropped by retention had added to the all-time counter aggregate ``name``
        (``queries.expired_counters``); ``None`` when none was dropped."""
        if self._expired is None:
            rows = self.query("SELECT key, value FROM meta WHERE starts_with(key, ?)", [_EXPIRED_KEY])
            self._expired = {key[len(_EXPIRED_KEY) :]: _load_acc(value) for key, value in rows}
        return self._expired.get(name)

    # ---------------------------------------------------------------- tailing
    def start_tailing(self) -> None:
        """Refresh every ``settings.tail_interval`` seconds on a daemon thread until ``stop_tailing()``."""
        if self._tail_thread is not None and self._tail_thread.is_alive():
            return
        self._tail_stop.clear()
        self._tail_thread = threading.Thread(target=self._tail_loop, name="ai-usage-store-tail", daemon=True)
        self._tail_thread.start()

    def _tail_loop(self) -> None:
        interval = float(self.settings.tail_interval)
        while not self._tail_stop.is_set():
            started = time.monotonic()
            with contextlib.suppress(Exception):  # logged once by refresh(); retried next tick
                self.refresh()
            # Ticks ``interval`` apart, however long folding the new rows into cached aggregates took.
            self._tail_stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def stop_tailing(self) -> None:
        self._tail_stop.set()
        thread, self._tail_thread = self._tail_thread, None
        if thread is not None:
            thread.join()

    # ---------------------------------------------------------------- health
    def health(self) -> dict[str, Any]:
        """The store's state for ``/health`` and ``/metrics``."""
        records = corrupt = duplicates = files = 0
        last_record: float | None = None
        if not self._closed:
            row = self.query(
                "SELECT count(*), coalesce(sum(records), 0), coalesce(sum(corrupt), 0), "
                "coalesce(sum(duplicates), 0) FROM files"
            )
            files, records, corrupt, duplicates = (int(v) for v in row[0])
            last_record = self.incremental("last_record_timestamp", self._fold_last_record)
        now = time.time()
        if self._closed:
            status = "closed"
        elif self._last_error is not None:
            status = "error"
        else:
            status = "ok"
        return {
            "status": status,
            "records_indexed": records,
            "corrupt_lines": corrupt,
            "duplicate_records": duplicates,
            "pending_partial_lines": self._pending_partial,
            "files": files,
            "lag_seconds": None if self._caught_up_at is None else max(0.0, now - self._caught_up_at),
            "last_refresh": self._last_refresh,
            "last_record_timestamp": last_record,
            "index_path": str(self._db_file) if self.mode != "memory" else ":memory:",
            "mode": self.mode,
            "tailing": self._tail_thread is not None and self._tail_thread.is_alive(),
            "last_error": self._last_error,
            "rows_expired": self.rows_expired,
        }

    def _fold_last_record(self, after: int, upto: int, previous: float | None) -> float | None:
        row = self.query("SELECT max(ts) FROM records WHERE batch > ? AND batch <= ?", [after, upto])
        newest: float | None = row[0][0]
        return newest if previous is None or (newest is not None and newest > previous) else previous

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        if self._closed:
            return
        self.stop_tailing()
        with self._lock:
            self._closed = True
            with self._cursors_lock:
                for cur in self._cursors:
                    with contextlib.suppress(Exception):
                        cur.close()
                self._cursors.clear()
            self._con.close()
        if self._temp_root is not None and self.mode != "file":
            shutil.rmtree(self._temp_root, ignore_errors=True)

    def __enter__(self) -> UsageStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _head_of(path: Path) -> bytes:
    """The first bytes of ``path`` (as ``_FileState.head``); empty when it is gone."""
    try:
        with path.open("rb") as file:
            return file.read(_HEAD_BYTES)
    except FileNotFoundError:
        return b""


def _holds(info: GzInfo, state: _FileState) -> bool:
    """Whether a gzip file with content ``info`` starts with what was read of the file ``state``."""
    return info.length >= state.offset and info.head[: len(state.head)] == state.head


#: ``meta`` keys holding ``expired``'s aggregates
_EXPIRED_KEY = "expired:"


def _dump_acc(acc: dict[tuple[Any, ...], Any]) -> str:
    return orjson.dumps([[list(key), value] for key, value in acc.items()]).decode()


def _load_acc(text: str) -> dict[tuple[Any, ...], Any]:
    return {tuple(key): value for key, value in orjson.loads(text)}


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if a failed commit left one (the caller raises the first error)."""
    with contextlib.suppress(duckdb.Error):
        cur.execute("ROLLBACK")


def _checked_size(value: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]?i?B", value.strip(), re.IGNORECASE):
        raise ValueError(f"memory_limit must look like '512MB', got {value!r}")
    return value.strip()
