"""The record files a shipper reads: the daily ``usage_*.jsonl`` files and the ``.jsonl.gz`` retention makes
of old ones, each read as one byte stream (decompressed for ``.gz``, every member) so an offset means the
same in both forms."""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from ai_usage_monitor.ship.state import STATE_DIR

__all__ = ["RECORD_FILE_RE", "RecordFile", "StreamReader", "complete_lines", "list_record_files"]

#: ``usage_<day>.jsonl`` and the ``.gz`` retention makes of it (``….gz.tmp`` while it is being written).
RECORD_FILE_RE = re.compile(r"usage_(?!report)[^/]*\.jsonl(\.gz)?")
_GZ = ".gz"
_GZIP_WBITS = 31
_READ_BLOCK = 1 << 20
#: decompressed sizes of a folder's ``.gz`` files by "name inode size mtime": a given file is decompressed
#: once, also across processes (``ship --status`` is one): kept in ``<records_dir>/.ship/gz_sizes.json``
_SIZES_FILE = "gz_sizes.json"
_sizes: dict[Path, dict[str, int]] = {}


@dataclass(frozen=True, slots=True)
class RecordFile:
    """One record file as found on disk; ``size`` is the length of its (decompressed) stream, -1 for a
    ``.gz`` that is not a whole gzip file (yet)."""

    name: str
    path: Path
    compressed: bool
    inode: int
    size: int

    @property
    def plain_name(self) -> str:
        """The day file's name without ``.gz``: a ``.gz`` holds what that file held."""
        return self.name.removesuffix(_GZ)


def _known_sizes(records_dir: Path) -> dict[str, int]:
    """The sizes this process knows for the folder, read from the folder's file the first time."""
    known = _sizes.get(records_dir)
    if known is None:
        known = _sizes[records_dir] = {}
        with contextlib.suppress(OSError, orjson.JSONDecodeError, TypeError, ValueError):
            saved = orjson.loads((records_dir / STATE_DIR / _SIZES_FILE).read_bytes())
            known.update({str(key): int(size) for key, size in saved.items()})
    return known


def _remember_sizes(records_dir: Path, known: dict[str, int]) -> None:
    """Save the sizes (a temporary file renamed over the old one); a folder not writable keeps none."""
    path = records_dir / STATE_DIR / _SIZES_FILE
    temp = path.with_name(f"{_SIZES_FILE}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        temp.write_bytes(orjson.dumps(known))
        temp.replace(path)


def _size_key(name: str, st: os.stat_result) -> str:
    return f"{name} {st.st_ino} {st.st_size} {st.st_mtime_ns}"


def _gzip_stream_size(path: Path) -> int:
    """The decompressed size of every member of a ``.gz`` (retention adds members); -1 when it ends inside
    one. The trailer cannot tell: it sizes the last member only."""
    size = 0
    inflate = zlib.decompressobj(wbits=_GZIP_WBITS)
    inside = False
    try:
        with path.open("rb") as f:
            while block := f.read(_READ_BLOCK):
                while block:
                    inside = True
                    size += len(inflate.decompress(block))
                    block = b""
                    if inflate.eof:
                        block, inside = inflate.unused_data, False
                        inflate = zlib.decompressobj(wbits=_GZIP_WBITS)
    except zlib.error:
        return -1
    return -1 if inside else size


def list_record_files(records_dir: Path) -> dict[str, RecordFile]:
    """Name → file of every record file in ``records_dir``, in the order of their lines: by day, a day's
    ``.gz`` before its plain file (which holds lines written after the day was compressed)."""
    try:
        entries = [e for e in os.scandir(records_dir) if RECORD_FILE_RE.fullmatch(e.name)]
    except FileNotFoundError:
        return {}
    entries.sort(key=lambda e: (e.name.removesuffix(_GZ), not e.name.endswith(_GZ)))
    found: dict[str, RecordFile] = {}
    known = _known_sizes(Path(records_dir))
    sized: dict[str, int] = {}
    for entry in entries:
        compressed = entry.name.endswith(_GZ)
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
            size = st.st_size
            if compressed:
                key = _size_key(entry.name, st)
                size = known[key] if key in known else _gzip_stream_size(Path(entry.path))
                if size >= 0:
                    sized[key] = size
        except FileNotFoundError:  # moved between the listing and the stat: seen next time
            continue
        found[entry.name] = RecordFile(entry.name, Path(entry.path), compressed, st.st_ino, size)
    if sized != known:  # only the files there now: a replaced or deleted one is forgotten
        known.clear()
        known.update(sized)
        _remember_sizes(Path(records_dir), sized)
    return found


class StreamReader:
    """Reads one record file's stream at any offset: in place for ``.jsonl``; for ``.gz`` through a
    decompressor kept open, so a file read in order is decompressed once."""

    def __init__(self, file: RecordFile) -> None:
        self.file = file
        self._fd = os.open(file.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._gzip: gzip.GzipFile | None = None
        if file.compressed:
            self._raw = os.fdopen(self._fd, "rb")
            self._gzip = gzip.GzipFile(fileobj=self._raw, mode="rb")

    def pread(self, size: int, offset: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` of the stream (fewer at its end)."""
        if self._gzip is None:
            return os.pread(self._fd, size, offset)
        if self._gzip.tell() != offset:
            self._gzip.seek(offset)
        return self._gzip.read(size)

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
            self._raw.close()
        else:
            os.close(self._fd)


def complete_lines(reader: StreamReader, offset: int, max_bytes: int) -> bytes:
    """The complete lines (each ending in ``\\n``) from ``offset``, about ``max_bytes`` of them (more when
    one line is longer); a last line without its newline is left for later, unless the file is compressed
    (it never grows: that line is all there will be)."""
    final = reader.file.compressed
    chunk = reader.pread(max_bytes, offset)
    if final and len(chunk) < max_bytes:
        return chunk
    cut = chunk.rfind(b"\n")
    if cut >= 0:
        return chunk[: cut + 1]
    parts = [chunk]
    read = len(chunk)
    while len(chunk) == max_bytes:  # one line longer than max_bytes: read on to its end
        chunk = reader.pread(max_bytes, offset + read)
        cut = chunk.find(b"\n")
        if cut >= 0:
            parts.append(chunk[: cut + 1])
            return b"".join(parts)
        parts.append(chunk)
        read += len(chunk)
    return b"".join(parts) if final else b""
