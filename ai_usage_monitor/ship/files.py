"""The record files a shipper reads: the daily ``usage_*.jsonl`` files and the ``.jsonl.gz`` the retention
job makes of old ones, each read as one byte stream (decompressed for ``.gz``) so an offset means the same
in both forms."""

from __future__ import annotations

import gzip
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RECORD_STREAM_RE", "RecordFile", "StreamReader", "complete_lines", "list_record_files"]

#: ``usage_<day>.jsonl`` and its compressed form; group 1 is the stem a file keeps in both forms.
RECORD_STREAM_RE = re.compile(r"(usage_(?!report)[^/]*)\.jsonl(\.gz)?")
_GZIP_SIZE_WRAP = 1 << 32


@dataclass(frozen=True, slots=True)
class RecordFile:
    """One record file as found on disk; ``size`` is the length of its (decompressed) stream."""

    stem: str
    path: Path
    compressed: bool
    inode: int
    size: int


def _gzip_stream_size(path: Path, compressed_size: int, at_least: int) -> int:
    """The decompressed size of a ``.gz`` file from its trailer (stored modulo 2**32: taken as the smallest
    value not below the bytes already read nor the compressed size)."""
    if compressed_size < 4:
        return 0
    with path.open("rb") as f:
        f.seek(-4, os.SEEK_END)
        (size,) = struct.unpack("<I", f.read(4))
    while size < max(at_least, compressed_size):
        size += _GZIP_SIZE_WRAP
    return int(size)


def list_record_files(records_dir: Path, offsets: dict[str, int] | None = None) -> dict[str, RecordFile]:
    """Stem → file of every record file in ``records_dir``; a ``.jsonl`` wins over its ``.gz`` (which may be
    still being written). ``offsets`` (stem → bytes read) only helps size a large ``.gz``."""
    plain: dict[str, os.DirEntry[str]] = {}
    packed: dict[str, os.DirEntry[str]] = {}
    try:
        entries = list(os.scandir(records_dir))
    except FileNotFoundError:
        return {}
    for entry in entries:
        match = RECORD_STREAM_RE.fullmatch(entry.name)
        if match is None or not entry.is_file():
            continue
        (packed if match.group(2) else plain)[match.group(1)] = entry
    found: dict[str, RecordFile] = {}
    for stem in sorted(plain.keys() | packed.keys()):
        entry = plain.get(stem) or packed[stem]
        try:
            st = entry.stat()
            compressed = stem not in plain
            size = st.st_size
            if compressed:
                size = _gzip_stream_size(Path(entry.path), size, (offsets or {}).get(stem, 0))
        except FileNotFoundError:  # moved between the listing and the stat: seen next time
            continue
        found[stem] = RecordFile(stem, Path(entry.path), compressed, st.st_ino, size)
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
