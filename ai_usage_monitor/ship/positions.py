"""Where to go on reading a record file found on disk, given how far it was read: the same stream (same
file, or moved, copied or compressed with the same first bytes) goes on from the offset; another one is
read from its start."""

from __future__ import annotations

from ai_usage_monitor.ship.files import RecordFile, StreamReader
from ai_usage_monitor.ship.state import Position

__all__ = ["HEAD_BYTES", "continues", "resume_position"]

#: First bytes of a stream kept to recognise it under another inode or compressed: part of its first
#: record, whose timestamp and ids no other file starts with.
HEAD_BYTES = 256


def continues(file: RecordFile, reader: StreamReader, known: Position) -> bool:
    """Whether ``file`` holds the stream ``known`` was read from, at least up to its offset."""
    if file.size < known.offset:
        return False
    if known.offset == 0:
        return True
    if file.compressed and known.name == file.path.name and known.inode == file.inode:
        return True  # a .gz never changes
    return bool(known.head) and reader.pread(len(known.head), 0) == known.head


def resume_position(file: RecordFile, reader: StreamReader, known: Position | None) -> Position:
    """The position to read ``file`` from: ``known``'s offset when it is the same stream, else 0."""
    offset = known.offset if known is not None and continues(file, reader, known) else 0
    head = known.head if known is not None and offset else b""
    if len(head) < HEAD_BYTES and file.size > len(head):
        head = reader.pread(HEAD_BYTES, 0)
    return Position(file.path.name, file.inode, head, offset)
