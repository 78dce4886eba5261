"""Many threads and processes appending to one folder: every line whole, none lost."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from ai_usage_monitor.config import Settings
from ai_usage_monitor.recorder import Recorder, record_ai_usage, set_recorder
from tests.support.records import read_records

PER_WORKER = 2000


@pytest.fixture
def recorder_in(tmp_path: Path):  # type: ignore[no-untyped-def]
    recorder = Recorder(Settings(records_dir=tmp_path, timezone="Asia/Shanghai"))
    previous = set_recorder(recorder)
    yield tmp_path
    set_recorder(previous)
    recorder.close()


def _write_many(worker: int) -> None:
    for i in range(PER_WORKER):
        record_ai_usage(
            model="qwen-plus",
            function="实时分析",
            input_tokens=1000 + i,
            output_tokens=i,
            user_id=f"w{worker}",
        )


def test_eight_threads(recorder_in: Path) -> None:
    threads = [threading.Thread(target=_write_many, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = read_records(recorder_in)  # raises on any torn or interleaved line
    assert len(records) == 8 * PER_WORKER
    assert len({r["record_id"] for r in records}) == 8 * PER_WORKER
    for n in range(8):
        mine = sorted(r["input_tokens"] for r in records if r["user_id"] == f"w{n}")
        assert mine == [1000 + i for i in range(PER_WORKER)]


def _process_main(records_dir: str, worker: int) -> None:
    set_recorder(Recorder(Settings(records_dir=Path(records_dir), timezone="Asia/Shanghai")))
    _write_many(worker)


def test_four_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_main, args=(str(tmp_path), n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    records = read_records(tmp_path)
    assert len(records) == 4 * PER_WORKER
    assert {r["user_id"] for r in records} == {"w0", "w1", "w2", "w3"}
