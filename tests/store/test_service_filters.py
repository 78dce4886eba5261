"""``service``, ``host`` and ``tags`` in the index: filters and rankings equal hand sums of the records, and
lines written before these fields existed (or with odd tags) still count, under no service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import queries
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.queries import Filters
from ai_usage_monitor.store.schema import MAX_TAG_CHARS
from tests.store.helpers import make_records, settings_for
from tests.support.records import record_file, write_records

NOW = time.time()
SERVICES = ("live-api", "客服", None)
HOSTS = ("pod-1", "pod-2")
#: tags of record ``i``: a team, a region for every second one, a long note never indexed
TEAMS = ("直播", "search:v2", "ops")


def tags_of(i: int) -> dict[str, str]:
    tags = {"team": TEAMS[i % 3]}
    if i % 2:
        tags["region"] = "cn-hz"
    if i % 5 == 0:
        tags["note"] = "x" * MAX_TAG_CHARS
    return tags


#: lines as older versions wrote them: no service, host or tags keys; and tags that are not an object
OLD_LINES = [
    {"timestamp": NOW - 50, "model": "old-model", "cost": 0.5, "v": 1},
    {"timestamp": NOW - 40, "model": "old-model", "cost": 0.25, "tags": ["not", "a", "map"]},
    {"timestamp": NOW - 30, "model": "old-model", "cost": 0.125, "tags": {"team": 7}},
]


@pytest.fixture
def indexed(tmp_path: Path) -> Iterator[tuple[UsageStore, list[UsageRecord]]]:
    settings = settings_for(tmp_path)
    records = make_records(300, NOW - 3 * 86400, NOW - 100)
    for i, record in enumerate(records):
        record.service = SERVICES[i % 3]
        record.host = HOSTS[i % 2]
        record.tags = tags_of(i)
    write_records(settings.records_dir, records, settings.tz)
    with record_file(settings.records_dir, settings.tz, NOW).open("ab") as out:
        out.write(b"".join(orjson.dumps(line) + b"\n" for line in OLD_LINES))
    with UsageStore(settings) as store:
        store.refresh()
        yield store, records


def check_sums(store: UsageStore, filters: Filters, expected: list[UsageRecord]) -> None:
    summary = queries.summarize(store, None, filters, breakdowns=False)
    assert summary.calls == len(expected) > 0
    assert summary.cost == pytest.approx(sum(r.cost for r in expected), rel=1e-9, abs=1e-12)


def test_filters_by_service_host_and_tags(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    check_sums(store, Filters(service="客服"), [r for r in records if r.service == "客服"])
    check_sums(store, Filters(host="pod-2"), [r for r in records if r.host == "pod-2"])
    check_sums(
        store,
        Filters(service="live-api", host="pod-1"),
        [r for r in records if r.service == "live-api" and r.host == "pod-1"],
    )
    check_sums(store, Filters(tags=(("team", "直播"),)), [r for r in records if r.tags["team"] == "直播"])
    check_sums(
        store,
        Filters(tags=(("team", "search:v2"), ("region", "cn-hz"))),
        [r for r in records if r.tags["team"] == "search:v2" and r.tags.get("region") == "cn-hz"],
    )
    # a tag's key and value are matched exactly, never as a prefix or across pairs
    assert queries.summarize(store, None, Filters(tags=(("team", "search"),))).calls == 0
    assert queries.summarize(store, None, Filters(tags=(("region", "ops"),))).calls == 0


def test_long_tags_are_not_indexed(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, _ = indexed
    assert queries.summarize(store, None, Filters(tags=(("note", "x" * MAX_TAG_CHARS),))).calls == 0


def test_old_lines_count_under_no_service(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    everything = queries.summarize(store, None)
    assert everything.calls == len(records) + len(OLD_LINES)
    ranked = {row["service"]: row for row in queries.ranking(store, "service", None, 10, with_unknown=True)}
    assert set(ranked) == {"live-api", "客服", "unknown"}
    unnamed = [r for r in records if r.service is None]
    assert ranked["unknown"]["calls"] == len(unnamed) + len(OLD_LINES)
    assert ranked["unknown"]["cost"] == pytest.approx(
        sum(r.cost for r in unnamed) + sum(line["cost"] for line in OLD_LINES)
    )
    # tags that are not an object of strings do not make a line corrupt
    assert store.health()["corrupt_lines"] == 0


def test_ranking_by_service_and_host(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    for dimension in ("service", "host"):
        rows = queries.ranking(store, dimension, None, 10)
        expected: dict[str, float] = {}
        for r in records:
            value = getattr(r, dimension)
            if value is not None:
                expected[value] = expected.get(value, 0.0) + r.cost
        assert [row[dimension] for row in rows] == sorted(expected, key=lambda k: -expected[k])
        for row in rows:
            assert row["cost"] == pytest.approx(expected[row[dimension]])


def test_exports_give_tags_back(indexed: tuple[UsageStore, list[UsageRecord]]) -> None:
    store, records = indexed
    exported = list(queries.iter_records(store, None, Filters(service="live-api")))
    wanted = sorted((r for r in records if r.service == "live-api"), key=lambda r: r.timestamp)
    assert [e["tags"] for e in exported] == [
        {k: v for k, v in r.tags.items() if len(k) + len(v) <= MAX_TAG_CHARS} for r in wanted
    ]
    assert {e["service"] for e in exported} == {"live-api"}
