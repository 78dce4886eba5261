"""The files a shipper tails: a torn last line waits for its newline, a day file compressed to ``.gz`` by
retention goes on from its offset in the decompressed stream, a file replaced by a copy of itself is not
shipped again, and a file replaced by another one is shipped from its start."""

from __future__ import annotations

import gzip
import os
import shutil
import time
from pathlib import Path

from tests.ship.helpers import (
    TZ,
    ShipperProcess,
    clickhouse_totals,
    day_records,
    expected_totals,
    migrated,
    wait_until,
)
from tests.support.records import write_records


def test_torn_tail_waits_for_its_newline(tmp_path: Path, clickhouse_url: str) -> None:
    client = migrated(clickhouse_url)
    records_dir = tmp_path / "records"
    records = day_records(20, seed=51, days_ago=1)
    write_records(records_dir, records[:19], TZ)
    (path,) = records_dir.glob("usage_*.jsonl")
    line = records[19].to_json_line()
    with path.open("ab") as out:
        out.write(line[:40])  # a writer half-way through its line
    shipper = ShipperProcess.start(records_dir, clickhouse_url, log=tmp_path / "ship.log")
    try:
        wait_until(lambda: shipper.state.records == 19, what="complete lines shipped")
        committed = shipper.state.files[path.name]
        assert committed.offset == path.stat().st_size - 40
        assert clickhouse_totals(client).matches(expected_totals(records[:19]))
        with path.open("ab") as out:
            out.write(line[40:])
        wait_until(lambda: shipper.state.records == 20, what="the completed line shipped")
        assert clickhouse_totals(client).matches(expected_totals(records))
    finally:
        shipper.stop()


def test_compressed_and_replaced_files(tmp_path: Path, clickhouse_url: str) -> None:
    client = migrated(clickhouse_url)
    records_dir = tmp_path / "records"
    old_day = day_records(300, seed=61, days_ago=10)  # a file the retention job compresses
    other_day = day_records(200, seed=62, days_ago=5)
    write_records(records_dir, old_day[:200] + other_day, TZ)
    shipper = ShipperProcess.start(records_dir, clickhouse_url, log=tmp_path / "ship.log")
    try:
        wait_until(lambda: shipper.state.records == 400, what="first records shipped")
    finally:
        assert shipper.terminate() == 0
    old_path = next(p for p in records_dir.glob("usage_*.jsonl") if p.read_bytes().count(b"\n") == 200)
    other_path = next(p for p in records_dir.glob("usage_*.jsonl") if p != old_path)
    # the old file gains its last lines, then is compressed and removed as retention does
    write_records(records_dir, old_day[200:], TZ)
    with old_path.open("rb") as src, gzip.open(f"{old_path}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    old_path.unlink()
    # the other file is replaced by a copy of itself (new inode, same bytes)
    copy = other_path.with_suffix(".tmp")
    shutil.copyfile(other_path, copy)
    os.replace(copy, other_path)

    shipper = ShipperProcess.start(records_dir, clickhouse_url, log=tmp_path / "ship2.log")
    try:
        # only the 100 lines past the offset are shipped, nothing again
        wait_until(lambda: shipper.state.records == 500, what="compressed file's new lines shipped")
        assert clickhouse_totals(client).matches(expected_totals(old_day + other_day))

        # a late line for the compressed day lands in a new plain file beside the .gz, and is shipped; then
        # retention rebuilds the .gz with it as another member and removes the plain file: nothing again
        late = day_records(1, seed=64, days_ago=10)
        write_records(records_dir, late, TZ)
        wait_until(lambda: shipper.state.records == 501, what="the late line shipped")
        gz_path = Path(f"{old_path}.gz")
        rebuilt = gz_path.with_name(gz_path.name + ".tmp")
        rebuilt.write_bytes(gz_path.read_bytes() + gzip.compress(old_path.read_bytes()))
        os.replace(rebuilt, gz_path)
        old_path.unlink()
        time.sleep(1)  # several looks at the folder
        assert shipper.state.records == 501
        assert clickhouse_totals(client).matches(expected_totals(old_day + other_day + late))

        # now replaced by another file under the same name: shipped from its start
        newer = day_records(50, seed=63, days_ago=5)
        other_path.unlink()
        write_records(records_dir, newer, TZ)
        wait_until(lambda: shipper.state.records == 551, what="the replacing file shipped")
        assert clickhouse_totals(client).matches(expected_totals(old_day + other_day + late + newer))
        assert shipper.terminate() == 0
    finally:
        shipper.stop()


def test_a_compressed_file_still_being_written_waits(tmp_path: Path, clickhouse_url: str) -> None:
    client = migrated(clickhouse_url)
    records_dir = tmp_path / "records"
    old_day, today = day_records(100, seed=71, days_ago=9), day_records(50, seed=72, days_ago=1)
    write_records(records_dir, old_day + today, TZ)
    old_path = next(p for p in records_dir.glob("usage_*.jsonl") if p.read_bytes().count(b"\n") == 100)
    packed = gzip.compress(old_path.read_bytes())
    old_path.unlink()
    gz_path = Path(f"{old_path}.gz")
    gz_path.write_bytes(packed[: len(packed) // 2])  # the retention job half-way through
    shipper = ShipperProcess.start(records_dir, clickhouse_url, log=tmp_path / "ship.log")
    try:
        wait_until(lambda: shipper.state.records == 50, what="the other file shipped")
        wait_until(lambda: "cannot read record file" in shipper.text(), what="the half .gz logged")
        temp = gz_path.with_suffix(".tmp")
        temp.write_bytes(packed)
        os.replace(temp, gz_path)
        wait_until(lambda: shipper.state.records == 150, what="the finished .gz shipped")
        assert clickhouse_totals(client).matches(expected_totals(old_day + today))
        assert shipper.text().count("cannot read record file") == 1
        assert shipper.terminate() == 0
    finally:
        shipper.stop()
