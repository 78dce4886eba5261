"""Reading record files as the shipper does, on real files: complete lines only (a compressed file's last
line too), one line longer than a read, a record glued behind a torn line kept, its torn part counted."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from ai_usage_monitor.ship import files
from ai_usage_monitor.ship.files import StreamReader, complete_lines, list_record_files
from ai_usage_monitor.ship.lines import parse_lines, salvage


def _row(line: bytes) -> dict[str, object] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _read_all(path: Path, step: int) -> bytes:
    (file,) = list_record_files(path.parent).values()
    reader = StreamReader(file)
    try:
        out = b""
        while chunk := complete_lines(reader, len(out), step):
            out += chunk
        return out
    finally:
        reader.close()


def test_complete_lines_of_plain_and_compressed_files(tmp_path: Path) -> None:
    body = b"".join(orjson.dumps({"timestamp": i, "pad": "x" * i}) + b"\n" for i in range(50))
    plain = tmp_path / "plain" / "usage_2026-01-01.jsonl"
    plain.parent.mkdir()
    plain.write_bytes(body + b'{"timestamp": 99, "to')
    packed = tmp_path / "packed" / "usage_2026-01-01.jsonl.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(body + b'{"timestamp": 99}'))
    for step in (7, 64, 1 << 20):  # shorter than a line, a few lines, everything
        assert _read_all(plain, step) == body
        assert _read_all(packed, step) == body + b'{"timestamp": 99}'
    (file,) = list_record_files(packed.parent).values()
    assert file.compressed and file.size == len(body) + len(b'{"timestamp": 99}')


def test_listing_reads_a_days_gz_before_its_plain_file_and_sizes_every_member(tmp_path: Path) -> None:
    first, later = b'{"timestamp": 1}\n' * 3, b'{"timestamp": 2}\n'
    (tmp_path / "usage_2026-01-01.jsonl.gz").write_bytes(gzip.compress(first) + gzip.compress(later))
    (tmp_path / "usage_2026-01-01.jsonl").write_bytes(later)
    (tmp_path / "usage_2025-12-31.jsonl").write_bytes(later)
    (tmp_path / "usage_2026-01-02.jsonl.gz.tmp").write_bytes(b"")  # retention still writing it
    (tmp_path / "usage_report_x.jsonl").write_bytes(later)
    files = list_record_files(tmp_path)
    assert list(files) == ["usage_2025-12-31.jsonl", "usage_2026-01-01.jsonl.gz", "usage_2026-01-01.jsonl"]
    assert files["usage_2026-01-01.jsonl.gz"].size == len(first + later)
    (tmp_path / "usage_2026-01-01.jsonl.gz").write_bytes(gzip.compress(first)[:-9])
    assert list_record_files(tmp_path)["usage_2026-01-01.jsonl.gz"].size == -1


def test_glued_record_is_kept_and_torn_part_counted() -> None:
    whole = orjson.dumps({"timestamp": 2.0, "function": "实时分析", "tags": {"a": 1}})
    torn = b'{"timestamp": 1.0, "model": "qw'
    chunk = orjson.dumps({"timestamp": 1.5}) + b"\n" + torn + whole + b"\nnot json\n\n"
    rows, corrupt, used = parse_lines(chunk, 10, _row)
    assert rows == [{"timestamp": 1.5}, orjson.loads(whole)]
    assert corrupt == 2
    assert used == len(chunk)
    assert salvage(torn) is None


def test_parse_stops_at_the_limit_on_a_line_boundary() -> None:
    lines = [orjson.dumps({"timestamp": i}) + b"\n" for i in range(5)]
    rows, corrupt, used = parse_lines(b"".join(lines), 3, _row)
    assert [r["timestamp"] for r in rows if r] == [0, 1, 2]
    assert (corrupt, used) == (0, sum(map(len, lines[:3])))


def test_gz_sizes_are_kept_for_the_next_process_and_found_again_when_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ship --status`` runs once: without the saved sizes it would decompress every ``.gz`` each time."""
    day = tmp_path / "usage_2026-01-01.jsonl.gz"
    body = b'{"timestamp": 1}\n' * 200
    day.write_bytes(gzip.compress(body))
    assert list_record_files(tmp_path)[day.name].size == len(body)
    files._sizes.clear()  # as a new process

    def no_decompressing(*args: object, **kwargs: object) -> None:
        raise AssertionError("decompressed again")

    monkeypatch.setattr(files.zlib, "decompressobj", no_decompressing)
    assert list_record_files(tmp_path)[day.name].size == len(body)
    monkeypatch.undo()
    day.write_bytes(gzip.compress(body) + gzip.compress(body))  # retention appended a member
    files._sizes.clear()
    assert list_record_files(tmp_path)[day.name].size == 2 * len(body)
    day.unlink()
    assert list_record_files(tmp_path) == {}
    assert orjson.loads((tmp_path / ".ship" / "gz_sizes.json").read_bytes()) == {}
