"""Where to go on reading a record file found on disk, given how far each file was read. The same stream
(the same file, or a copy with the same first bytes) goes on from its offset; a ``.gz`` retention made of a
day file goes on from that file's offset, and one rebuilt with a later file's lines added goes on past the
part already read in either; any other file is read from its start."""

from __future__ import annotations

from ai_usage_monitor.ship.files import RecordFile, StreamReader
from ai_usage_monitor.ship.state import Position

__all__ = ["HEAD_BYTES", "continues", "resume_position"]

#: First bytes of a stream kept to recognise it under another inode or compressed: part of its first
#: record, whose timestamp and ids no other file starts with.
HEAD_BYTES = 256


def continues(file: RecordFile, reader: StreamReader, known: Position, at: int = 0) -> bool:
    """Whether ``file`` holds, from byte ``at``, the stream ``known`` was read from, up to its offset."""
    if file.size < at + known.offset:
        return False
    if known.offset == 0:
        return True
    if at == 0 and (known.name, known.inode) == (file.name, file.inode) and file.compressed:
        return True  # a .gz is never written in place
    return bool(known.head) and reader.pread(len(known.head), at) == known.head


def resume_position(file: RecordFile, reader: StreamReader, known: dict[str, Position]) -> Position:
    """The position to read ``file`` from, given the positions of every file by name."""
    mine = known.get(file.name)
    offset = mine.offset if mine is not None and continues(file, reader, mine) else 0
    head = mine.head if mine is not None and offset else b""
    plain = known.get(file.plain_name) if file.compressed else None
    rebuilt = mine is None or mine.inode != file.inode
    if plain is not None and rebuilt and plain.offset and continues(file, reader, plain, at=offset):
        offset += plain.offset  # the day file's lines, compressed (after the old .gz's when rebuilt)
        head = head or plain.head
    if len(head) < HEAD_BYTES and file.size > len(head):
        head = reader.pread(HEAD_BYTES, 0)
    return Position(file.name, file.inode, head, offset)
