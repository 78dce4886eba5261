"""Record ids: random UUID4s (32 hex digits), unique, and never repeated by a forked child or an app
that seeds ``random``."""

from __future__ import annotations

import os
import random
import uuid

from ai_usage_monitor.records import UsageRecord, new_record_id


def test_ids_are_uuid4_hex_and_unique() -> None:
    ids = [new_record_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:500]:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert UsageRecord(timestamp=0.0).record_id != UsageRecord(timestamp=0.0).record_id


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.close(read_end)
        os.write(write_end, new_record_id().encode())
        os._exit(0)
    os.close(write_end)
    parent_next = new_record_id()
    with os.fdopen(read_end, "rb") as child_output:
        child_next = child_output.read().decode()
    os.waitpid(pid, 0)
    assert len(child_next) == 32 and child_next != parent_next


def test_seeding_random_does_not_repeat_ids() -> None:
    random.seed(42)
    first = new_record_id()
    random.seed(42)
    assert new_record_id() != first
