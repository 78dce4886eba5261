"""Day files kept gzipped by retention (docs/operations.md, "Retention"): ``usage_<day>.jsonl.gz`` holds what
``usage_<day>.jsonl`` held. It may hold several gzip members (lines written to a day after it was compressed
are added as another member), and a plain file of the same day may sit beside it; the day's lines are then
the gzip file's followed by the plain file's.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GZ_SUFFIX",
    "GzInfo",
    "gunzip_chunks",
    "gunzip_range",
    "gz_head",
    "gz_info",
    "read_day_lines",
]

GZ_SUFFIX = ".gz"
#: compressed bytes read at a time
_READ_BLOCK = 1 << 20
#: compressed bytes read at a time for a file's first bytes
_HEAD_BLOCK = 4096
#: gzip framing for ``zlib``
_GZIP_WBITS = 31


def gunzip_chunks(fd: int, block: int = _READ_BLOCK) -> Iterator[bytes]:
    """The decompressed bytes of the gzip file open as ``fd`` (every member), read with ``pread`` so the
    descriptor's position is never used; ``EOFError`` when the file ends inside a member."""
    pos = 0
    member = zlib.decompressobj(wbits=_GZIP_WBITS)
    fed = False
    while True:
        data = os.pread(fd, block, pos)
        if not data:
            if fed and not member.eof:
                raise EOFError("the gzip file ends inside a member")
            return
        pos += len(data)
        while data:
            fed = True
            out = member.decompress(data)
            if out:
                yield out
            if not member.eof:
                break
            data = member.unused_data
            member = zlib.decompressobj(wbits=_GZIP_WBITS)
            fed = False


def gz_head(fd: int, size: int) -> bytes:
    """The first ``size`` decompressed bytes of the gzip file ``fd`` (fewer when it holds fewer), reading
    only as much of it as that takes."""
    head = b""
    for chunk in gunzip_chunks(fd, block=_HEAD_BLOCK):
        head += chunk
        if len(head) >= size:
            break
    return head[:size]


def gunzip_range(fd: int, start: int, end: int) -> Iterator[bytes]:
    """The decompressed bytes ``[start, end)`` of the gzip file ``fd`` (fewer if it holds fewer)."""
    pos = 0
    for chunk in gunzip_chunks(fd):
        lo, hi = max(start - pos, 0), min(end - pos, len(chunk))
        pos += len(chunk)
        if lo < hi:
            yield chunk[lo:hi]
        if pos >= end:
            return


@dataclass(frozen=True, slots=True)
class GzInfo:
    """What the decompressed content of a gzip day file starts with and how long it is."""

    head: bytes
    length: int
    #: offset just past its last newline (its complete lines end there)
    end: int


def gz_info(fd: int, head_bytes: int) -> GzInfo:
    """One pass over the gzip file ``fd``: its first ``head_bytes`` bytes, length and last line end."""
    head = b""
    length = end = 0
    for chunk in gunzip_chunks(fd):
        if len(head) < head_bytes:
            head += chunk[: head_bytes - len(head)]
        i = chunk.rfind(b"\n")
        if i >= 0:
            end = length + i + 1
        length += len(chunk)
    return GzInfo(head, length, end)


def read_day_lines(path: Path) -> list[bytes]:
    """The complete lines of the day file ``path`` (``usage_<day>.jsonl``): those of its ``.gz``, then those
    of its own not already in the ``.gz`` (while it is being compressed both hold them; a writer may write a
    line again after the compression). A ``.gz`` still being written is ignored; missing files hold none."""
    try:
        plain = path.read_bytes()
    except FileNotFoundError:
        plain = b""
    lines = plain[: plain.rfind(b"\n") + 1].splitlines()
    try:
        fd = os.open(path.with_name(path.name + GZ_SUFFIX), os.O_RDONLY)
    except FileNotFoundError:
        return lines
    try:
        data = b"".join(gunzip_chunks(fd))
    except (EOFError, zlib.error):
        return lines
    finally:
        os.close(fd)
    archived = data[: data.rfind(b"\n") + 1].splitlines()
    if lines:
        seen = set(archived)
        archived += [line for line in lines if line not in seen]
    return archived
