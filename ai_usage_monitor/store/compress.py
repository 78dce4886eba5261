"""Gzipping old day files (docs/operations.md, "Retention"): ``usage_<day>.jsonl`` becomes
``usage_<day>.jsonl.gz`` without a line lost or a reader seeing half a file.

The gzip file is written as ``….gz.tmp``, fsync'd and renamed into place before the plain file is removed,
so readers always find the day whole under one name or the other (``store/day_files.py`` tells them what to
do while both exist). Only days older than the limit whose file has been quiet for a while are compressed,
so no writer is expected to append; if one does anyway, the lines it appended before the plain file is
removed are compressed too (or written back under the day's name), and those after it are written again by
the writer itself (``exporter/jsonl.py`` notices its file is gone). One lock file serialises every process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

from ai_usage_monitor.store.day_files import GZ_SUFFIX, gz_info

__all__ = [
    "LOCK_FILE",
    "QUIET_SECONDS",
    "Compressed",
    "compress_day_file",
    "old_day_files",
    "retention_lock",
]

log = logging.getLogger(__name__)

#: The lock every process takes around a retention pass, in the records folder.
LOCK_FILE = ".retention.lock"
#: A day file written to less than this many seconds ago is left for a later pass.
QUIET_SECONDS = 3600.0
#: Times the plain file may grow while it is compressed before the pass leaves it for later.
_MAX_ROUNDS = 5
_READ_BLOCK = 1 << 20
_TMP_SUFFIX = ".tmp"
_DAY_FILE_RE = re.compile(r"usage_(\d{4}-\d{2}-\d{2})\.jsonl")


@dataclass(frozen=True, slots=True)
class Compressed:
    """One day file compressed: its plain bytes and the size of the gzip file that now holds them."""

    name: str
    plain_bytes: int
    gz_bytes: int


def old_day_files(records_dir: Path, tz: tzinfo, keep_days: int, now: float) -> list[Path]:
    """The plain day files of days before the ``keep_days`` days before today (local dates in ``tz``)."""
    first_kept: date = datetime.fromtimestamp(now, tz).date() - timedelta(days=keep_days)
    try:
        entries = list(os.scandir(records_dir))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        match = _DAY_FILE_RE.fullmatch(entry.name)
        if match and entry.is_file() and match[1] < first_kept.isoformat():
            found.append(Path(entry.path))
    return sorted(found)


@contextlib.contextmanager
def retention_lock(records_dir: Path) -> Iterator[None]:
    """Hold the records folder's retention lock (waits for another process's pass to end)."""
    fd = os.open(Path(records_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_member(source: int, start: int, end: int, out: int) -> None:
    """Append bytes ``[start, end)`` of ``source`` to ``out`` as one gzip member."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    pos = start
    while pos < end:
        data = os.pread(source, min(_READ_BLOCK, end - pos), pos)
        if not data:
            raise OSError(f"the file shrank while it was compressed (at byte {pos})")
        pos += len(data)
        _write_all(out, packer.compress(data))
    _write_all(out, packer.flush())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy_archive(archive: Path, out: int) -> bool:
    """Copy the day's existing gzip file into ``out`` (lines written after it was made join it as a new
    member); ``False`` when it is not a whole gzip file, which is then left alone."""
    try:
        fd = os.open(archive, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        try:
            gz_info(fd, 0)
        except (EOFError, zlib.error) as exc:
            log.warning("retention: %s is not a whole gzip file (%s); its day is left as it is", archive, exc)
            return False
        pos = 0
        while data := os.pread(fd, _READ_BLOCK, pos):
            _write_all(out, data)
            pos += len(data)
        return True
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compress_day_file(path: Path, *, now: float, quiet_seconds: float = QUIET_SECONDS) -> Compressed | None:
    """Gzip the day file ``path`` into ``path.gz`` and remove it; ``None`` when it was left as it is (written
    to lately, still growing, or its existing gzip file is damaged). The caller holds ``retention_lock``."""
    try:
        source = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    archive = path.with_name(path.name + GZ_SUFFIX)
    tmp = archive.with_name(archive.name + _TMP_SUFFIX)
    try:
        if now - os.fstat(source).st_mtime < quiet_seconds:
            return None
        done = _write_tmp(source, archive, tmp)
        if done is None:
            return None
        os.rename(tmp, archive)
        _sync_folder(path.parent)
        os.unlink(path)
        # Lines appended between the last look and the unlink: written back under the day's name.
        late = os.fstat(source).st_size
        if late > done:
            back = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                _write_all(back, os.pread(source, late - done, done))
            finally:
                os.close(back)
        _sync_folder(path.parent)
        return Compressed(path.name, done, archive.stat().st_size)
    finally:
        os.close(source)


def _write_tmp(source: int, archive: Path, tmp: Path) -> int | None:
    """The day's new gzip file, fsync'd at ``tmp`` (see ``_fill``); on a failure (a full disk) no ``tmp`` is
    left behind, and the plain file is untouched."""
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        done = _fill(source, archive, out)
        if done is not None:
            os.fsync(out)
    except BaseException:
        os.close(out)
        tmp.unlink(missing_ok=True)
        raise
    os.close(out)
    if done is None:
        tmp.unlink()
    return done


def _fill(source: int, archive: Path, out: int) -> int | None:
    """Write the day's gzip file to ``out``: the existing one, then the plain file's bytes as members until
    a look finds it no longer growing; returns how many plain bytes it holds (``None``: give up)."""
    if not _copy_archive(archive, out):
        return None
    done = 0
    for _ in range(_MAX_ROUNDS):
        size = os.fstat(source).st_size
        if size == done:
            if not os.fstat(out).st_size:  # an empty day: still a valid gzip file for any reader
                _write_member(source, 0, 0, out)
            return done
        _write_member(source, done, size, out)
        done = size
    if os.fstat(source).st_size == done:
        return done
    log.info("retention: %s keeps growing; it is left for a later pass", archive.name.removesuffix(GZ_SUFFIX))
    return None
