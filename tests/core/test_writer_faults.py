"""The JSONL writer under real faults: writes the kernel refuses (a file size limit, ``RLIMIT_FSIZE``, fails
them with ``EFBIG`` exactly like a full disk: a partial line, then an error), today's file deleted or moved
while the process runs. Each child process runs a short script against the real exporter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ai_usage_monitor.exporter.jsonl import _CHECK_LINES, JsonlExporter
from ai_usage_monitor.records import UsageRecord
from tests.support.records import record_file

REPO = Path(__file__).resolve().parents[2]
UTC = ZoneInfo("UTC")

#: run in a child: a file size limit of ``LIMIT`` bytes (``SIGXFSZ`` ignored, so writes fail with EFBIG)
PRELUDE = """
import json, os, resource, signal, sys, time
from pathlib import Path
from zoneinfo import ZoneInfo
from ai_usage_monitor.exporter.jsonl import JsonlExporter
from ai_usage_monitor.records import UsageRecord

root = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
LIMIT = 4096
resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))
exporter = JsonlExporter(root, ZoneInfo("UTC"))

def record(i, pad=0):
    return UsageRecord(timestamp=time.time(), model=f"m{i}", error_msg="x" * pad)
"""


def run_child(body: str, root: Path) -> dict[str, Any]:
    script = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script, str(root)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_failed_writes_never_close_a_descriptor_a_writer_may_hold(tmp_path: Path) -> None:
    """Every descriptor number that ever pointed at the records file still does after a run of failed
    writes: none was closed (and so none could be handed to the application's next ``open``)."""
    result = run_child(
        """
        def record_fds():
            found = {}
            for name in os.listdir("/proc/self/fd"):
                try:
                    target = os.readlink(f"/proc/self/fd/{name}")
                except OSError:
                    continue
                if target.endswith(".jsonl"):
                    found[int(name)] = target
            return found

        ok = exporter.export(record(0))
        held = record_fds()
        results = [exporter.export(record(i, pad=1000)) for i in range(1, 12)]
        app_fds = [os.open(root / f"app{i}.txt", os.O_WRONLY | os.O_CREAT) for i in range(4)]
        after = {fd: os.readlink(f"/proc/self/fd/{fd}")
                 for fd in held if os.path.exists(f"/proc/self/fd/{fd}")}
        print(json.dumps({"ok": ok, "results": results, "held": held, "after": after,
                          "app_fds": app_fds, "dropped": exporter.dropped}))
        """,
        tmp_path,
    )
    assert result["ok"] is True and result["held"]
    assert False in result["results"] and result["dropped"] == result["results"].count(False)
    assert result["after"] == result["held"]  # still open, still the records file
    assert not set(map(int, result["held"])) & set(result["app_fds"])


def test_a_torn_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    """A write cut short by the limit leaves part of a line; the next record, once space returns, starts on
    a line of its own and is read back whole."""
    result = run_child(
        """
        results = []
        i = 0
        while True:  # fill the file until a write is refused
            i += 1
            ok = exporter.export(record(i, pad=700))
            results.append(ok)
            if not ok:
                break
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        after = exporter.export(record(999))
        print(json.dumps({"results": results, "after": after}))
        """,
        tmp_path,
    )
    assert result["after"] is True
    [path] = tmp_path.glob("usage_*.jsonl")
    content = path.read_bytes()
    assert len(content) > 4096  # the limit was hit mid-line: a torn prefix precedes the last record
    lines = content.split(b"\n")
    assert lines[-1] == b""
    whole = []
    for line in lines[:-1]:
        try:
            whole.append(orjson.loads(line)["model"])
        except orjson.JSONDecodeError:
            assert line.startswith(b'{"timestamp"')  # the torn prefix, alone on its line
    assert whole == [f"m{i}" for i in range(1, len(result["results"]))] + ["m999"]


def _models(path: Path) -> list[str]:
    return [orjson.loads(line)["model"] for line in path.read_bytes().splitlines() if line]


def test_todays_file_deleted_while_running_is_written_again(tmp_path: Path) -> None:
    exporter = JsonlExporter(tmp_path, UTC)
    now = time.time()
    assert exporter.export(UsageRecord(timestamp=now, model="before"))
    path = record_file(tmp_path, UTC, now)
    path.unlink()
    assert exporter.export(UsageRecord(timestamp=now, model="after-1"))
    assert exporter.export(UsageRecord(timestamp=now, model="after-2"))
    exporter.close()
    assert _models(path) == ["after-1", "after-2"]
    assert exporter.dropped == 0


def test_todays_file_moved_while_running_gets_a_new_file(tmp_path: Path) -> None:
    """A rotation tool renames today's file: the next record goes to a new file under today's name (and, as
    it went to the moved file before the move was seen, stays there too); the moved file keeps the rest.
    Checked after every line here (``check_interval=0``)."""
    exporter = JsonlExporter(tmp_path, UTC, check_interval=0)
    now = time.time()
    assert exporter.export(UsageRecord(timestamp=now, model="before"))
    path = record_file(tmp_path, UTC, now)
    moved = tmp_path / "rotated.1"
    path.rename(moved)
    assert exporter.export(UsageRecord(timestamp=now, model="after"))
    assert exporter.export(UsageRecord(timestamp=now, model="after-2"))
    # replaced by another file of the same name (copy-and-replace rotation)
    path.rename(tmp_path / "rotated.2")
    path.write_bytes(b"")
    assert exporter.export(UsageRecord(timestamp=now, model="after-replace"))
    exporter.close()
    assert _models(moved) == ["before", "after"]
    assert _models(tmp_path / "rotated.2") == ["after", "after-2", "after-replace"]
    assert _models(path) == ["after-replace"]
    assert exporter.dropped == 0


def test_lines_since_the_last_check_are_written_again_after_a_move(tmp_path: Path) -> None:
    """With the default interval the name is checked now and then: every line written to the moved file since
    the last check is written again to a new file under today's name (at the latest at close)."""
    exporter = JsonlExporter(tmp_path, UTC, check_interval=3600)
    now = time.time()
    assert exporter.export(UsageRecord(timestamp=now, model="before"))  # the first line is checked
    path = record_file(tmp_path, UTC, now)
    moved = tmp_path / "rotated.1"
    path.rename(moved)
    assert exporter.export(UsageRecord(timestamp=now, model="after-1"))
    assert exporter.export(UsageRecord(timestamp=now, model="after-2"))
    assert not path.exists(), "not checked yet"
    exporter.close()
    assert _models(moved) == ["before", "after-1", "after-2"]
    assert _models(path) == ["after-1", "after-2"]
    assert exporter.dropped == 0


def test_a_full_window_of_lines_is_checked_without_waiting(tmp_path: Path) -> None:
    exporter = JsonlExporter(tmp_path, UTC, check_interval=3600)
    now = time.time()
    assert exporter.export(UsageRecord(timestamp=now, model="first"))
    path = record_file(tmp_path, UTC, now)
    path.unlink()
    for i in range(_CHECK_LINES):
        assert exporter.export(UsageRecord(timestamp=now, model=f"m{i}"))
    assert _models(path) == [f"m{i}" for i in range(_CHECK_LINES)], "rewritten when the window filled"
    exporter.close()
