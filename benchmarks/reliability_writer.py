"""The record writer under faults, in figures: writers SIGKILLed mid-stream, a full disk, today's file
deleted or moved while records are written (see benchmarks/README.md, "Reliability: writer").

Usage (the full-disk part mounts a 1 MiB tmpfs, so it needs root; without it that part says so)::

    python benchmarks/reliability_writer.py [--rounds 10] [--disk-calls 2000] [--rotation-records 20000]

A record is *acknowledged* when ``record_ai_usage`` returned: the writer prints its ``record_id`` after the
call, and only ids printed whole count. Record files are then read line by line as JSON: a line that does
not parse is *torn*; an acknowledged id found in no parsed line is *lost*.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ai_usage_monitor.config import Settings  # noqa: E402
from ai_usage_monitor.exporter.drops import fallback_drops_dir, read_ledgers, summarize_drops  # noqa: E402
from ai_usage_monitor.recorder import Recorder  # noqa: E402
from ai_usage_monitor.records import UsageRecord  # noqa: E402
from ai_usage_monitor.store.index import UsageStore  # noqa: E402

#: a writer that prints each record's id once ``record_ai_usage`` returned
WRITER = textwrap.dedent(
    """
    import sys
    from ai_usage_monitor import record_ai_usage
    pad = "x" * int(sys.argv[1])
    out = sys.stdout
    while True:
        record = record_ai_usage(model="qwen-plus", function="实时分析", input_tokens=10, output_tokens=2,
                                 error_msg=pad or None)
        out.write(record.record_id + "\\n")
        out.flush()
    """
)

#: threads recording onto a tiny filesystem until it is full, then the space comes back
FULL_DISK = textwrap.dedent(
    """
    import json, os, sys, threading, time
    from pathlib import Path
    from ai_usage_monitor import record_ai_usage
    from ai_usage_monitor.recorder import get_recorder
    mount, calls, threads = Path(sys.argv[1]), int(sys.argv[2]), 4
    filler = mount / "filler"
    app = mount / "app"
    app.mkdir()
    per_thread = calls // threads // 2
    acked, lock = [], threading.Lock()

    def writer():
        for _ in range(per_thread):
            record = record_ai_usage(model="qwen-plus", function="实时分析", input_tokens=10, output_tokens=2)
            with lock:
                acked.append(record.record_id)

    def app_files(stop):  # the application keeps opening its own files meanwhile
        n = 0
        while not stop.is_set():
            fd = os.open(app / f"f{n % 20}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.write(fd, b"app data\\n")
            os.close(fd)
            n += 1

    def phase():
        stop = threading.Event()
        helper = threading.Thread(target=app_files, args=(stop,))
        helper.start()
        workers = [threading.Thread(target=writer) for _ in range(threads)]
        for w in workers: w.start()
        for w in workers: w.join()
        stop.set(); helper.join()

    exporter = get_recorder().exporter
    phase()
    full = {"calls": len(acked), "written": exporter.written, "dropped": exporter.dropped}
    filler.unlink()  # space returns
    before = exporter.written
    phase()
    after = {"calls": len(acked) - full["calls"], "written": exporter.written - before}
    exporter.close()
    in_app = sum(p.read_bytes().count(b'"record_id"') for p in app.iterdir())
    print(json.dumps({"full": full, "after": after, "acked": acked, "in_app_files": in_app}))
    """
)


def read_lines(records_dir: Path) -> tuple[set[str], int, int, set[str]]:
    """(record ids in lines that parse, torn lines, lines, ids of whole records glued after a torn prefix)
    over every record file of the folder."""
    ids: set[str] = set()
    glued: set[str] = set()
    torn = lines = 0
    for path in records_dir.glob("usage_*.jsonl"):
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            lines += 1
            try:
                ids.add(orjson.loads(line)["record_id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                torn += 1
                start = line.rfind(b'{"timestamp":')
                if start > 0:
                    with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                        glued.add(orjson.loads(line[start:])["record_id"])
    return ids, torn, lines, glued


def child_env(records_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_USAGE_")}
    env.update(AI_USAGE_RECORDS_DIR=str(records_dir), AI_USAGE_TIMEZONE="UTC", PYTHONPATH=str(REPO))
    return env


def killed_writers(pad: int, rounds: int) -> dict[str, Any]:
    """``rounds`` times: two writers append to the same file, each SIGKILLed at a random moment."""
    with tempfile.TemporaryDirectory() as tmp:
        records_dir = Path(tmp) / "records"
        env = child_env(records_dir)
        acked: list[str] = []
        kills = 0
        for _ in range(rounds):
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(pad)], env=env, stdout=subprocess.PIPE, text=True
                )
                for _ in range(2)
            ]
            outputs: list[list[str]] = [[] for _ in procs]
            readers = [
                threading.Thread(target=lambda p=p, o=o: o.extend(p.stdout), daemon=True)  # type: ignore[misc]
                for p, o in zip(procs, outputs, strict=True)
            ]
            for reader in readers:
                reader.start()
            while not all(outputs):  # both are writing
                time.sleep(0.01)
            for proc in procs:
                time.sleep(random.uniform(0.0, 0.15))
                proc.send_signal(signal.SIGKILL)
                kills += 1
            for proc, reader in zip(procs, readers, strict=True):
                proc.wait()
                reader.join()
            for out in outputs:
                acked += [line.strip() for line in out if line.endswith("\n")]
        found, torn, lines, glued = read_lines(records_dir)
        lost = set(acked) - found
        return {
            "line bytes": f"~{pad + 620:,}",
            "kills": kills,
            "acknowledged": len(acked),
            "lost": len(lost),
            "of them glued after another's torn line": len(lost & glued),
            "missing from the index": missing_from_index(records_dir, Path(tmp) / "index", acked),
            "torn lines": torn,
            "lines": lines,
        }


def missing_from_index(records_dir: Path, index_dir: Path, acked: list[str]) -> int:
    """Acknowledged records the store's index does not hold after reading the folder (it salvages a record
    glued after another process's torn prefix)."""
    settings = Settings(records_dir=records_dir, index_dir=index_dir, timezone="UTC")
    with UsageStore(settings) as store:
        store.refresh()
        with store.private_cursor() as cur:
            cur.execute("CREATE TEMP TABLE acked AS SELECT unnest(?::VARCHAR[]) AS record_id", [acked])
            row = cur.execute(
                "SELECT count(*) FROM acked WHERE hash(record_id) NOT IN (SELECT record_key FROM records "
                "WHERE record_key IS NOT NULL)"
            ).fetchone()
    return int(row[0]) if row else len(acked)


def full_disk(calls: int) -> dict[str, Any]:
    """A 1 MiB tmpfs, all but ~200 KB of it taken, 4 threads recording ``calls / 2`` records; then the filler
    is deleted and they record as many again."""
    with tempfile.TemporaryDirectory() as tmp:
        mount = Path(tmp) / "disk"
        mount.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return {"skipped": f"mounting a tmpfs failed ({done.stderr.strip()}); run as root"}
        records_dir = mount / "records"
        try:
            (mount / "filler").write_bytes(b"\0" * (1024 * 1024 - 200 * 1024))
            run = subprocess.run(
                [sys.executable, "-c", FULL_DISK, str(mount), str(calls)],
                env=child_env(records_dir),
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
            result = json.loads(run.stdout)
            found, torn, _, _ = read_lines(records_dir)
            reported = summarize_drops(read_ledgers(records_dir))
            acked_after = result["acked"][result["full"]["calls"] :]
            return {
                "calls": result["full"]["calls"] + result["after"]["calls"],
                "failed (full disk)": result["full"]["dropped"],
                "dropped, reported in the ledger": reported["by_reason"]["write_failed"],
                "calls after space returned": result["after"]["calls"],
                "written after space returned": len(set(acked_after) & found),
                "torn lines": torn,
                "usage lines in the app's files": result["in_app_files"],
            }
        finally:
            subprocess.run(["umount", str(mount)], check=False)
            shutil.rmtree(fallback_drops_dir(records_dir), ignore_errors=True)


def rotated_file(records: int) -> list[dict[str, Any]]:
    """One thread records while today's file is moved away (then, in a second run, deleted) halfway."""
    results = []
    for action in ("moved", "deleted"):
        with tempfile.TemporaryDirectory() as tmp:
            records_dir = Path(tmp) / "records"
            recorder = Recorder(Settings(records_dir=records_dir, timezone="UTC"))
            acked: list[tuple[float, str]] = []

            def write(recorder: Recorder = recorder, acked: list[tuple[float, str]] = acked) -> None:
                for _ in range(records):
                    record = UsageRecord(
                        timestamp=time.time(), model="qwen-plus", input_tokens=1, output_tokens=1
                    )
                    recorder.emit(record)
                    acked.append((time.monotonic(), record.record_id))

            thread = threading.Thread(target=write)
            thread.start()
            while len(acked) < records // 2:
                time.sleep(0.001)
            [path] = records_dir.glob("usage_*.jsonl")
            moved = Path(tmp) / "rotated.jsonl.1"
            if action == "moved":
                path.rename(moved)
            else:
                path.unlink()
            event_at = time.monotonic()
            thread.join()
            recorder.close()
            found, _, _, _ = read_lines(records_dir)
            if moved.exists():
                found |= {orjson.loads(line)["record_id"] for line in moved.read_bytes().splitlines()}
            after = [rid for at, rid in acked if at > event_at]
            results.append(
                {
                    "today's file": action,
                    "written after": len(after),
                    "found after": len(set(after) & found),
                    "dropped": recorder.dropped,
                    "found in all (moved + new)": len(found) if action == "moved" else "—",
                    "written in all": len(acked),
                }
            )
    return results


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += [
        "| " + " | ".join(f"{row[k]:,}" if isinstance(row[k], int) else str(row[k]) for k in keys) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="kill rounds per line size (2 kills each)")
    parser.add_argument("--disk-calls", type=int, default=2000, help="calls onto the small disk")
    parser.add_argument("--rotation-records", type=int, default=20000)
    args = parser.parse_args()
    started = time.monotonic()
    print("## Writers SIGKILLed mid-stream (two writers on one file, each killed at a random moment)")
    print(table([killed_writers(pad, args.rounds) for pad in (0, 33_000)]))
    print("\n## Full disk (1 MiB tmpfs, 4 threads recording, the app opening its own files meanwhile)")
    result = full_disk(args.disk_calls)
    print(table([result]))
    print("\n## Today's file moved / deleted while one thread records")
    print(table(rotated_file(args.rotation_records)))
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
