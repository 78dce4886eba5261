"""The ClickHouse store answers an all-time aggregate from its last computation while it computes it again
on its own thread, so a whole-table question that takes seconds never holds up a /metrics scrape."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import queries
from ai_usage_monitor.store.backend import Store, open_store
from ai_usage_monitor.store.clickhouse import insert_records, line_row, migrate
from ai_usage_monitor.store.clickhouse import store as clickhouse_store
from ai_usage_monitor.store.clickhouse.client import ClickHouseClient
from ai_usage_monitor.store_url import parse_store_url
from tests.store.helpers import settings_for


def _insert(url: str, n: int, cost: float) -> None:
    client = ClickHouseClient(parse_store_url(url))
    try:
        migrate(client)
        now = time.time()
        lines = [UsageRecord(timestamp=now - i, cost=cost, priced=True).to_json_line() for i in range(n)]
        insert_records(client, [row for row in map(line_row, lines) if row is not None])
    finally:
        client.close()


def _requests(store: Store) -> float:
    return sum(row["requests"] for row in queries.metric_totals(store))


def test_an_all_time_aggregate_is_answered_while_computed_again(
    clickhouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clickhouse_store, "CACHE_SECONDS", 0.05)
    _insert(clickhouse_url, 3, 0.5)
    with open_store(settings_for(tmp_path, store=clickhouse_url)) as store:
        assert _requests(store) == 3  # the first answer is computed in the asker's thread
        _insert(clickhouse_url, 2, 0.5)
        time.sleep(0.1)
        assert _requests(store) == 3  # stale: answered at once, computed again on the store's thread
        deadline = time.monotonic() + 10
        while _requests(store) != 5:
            assert time.monotonic() < deadline, "the aggregate was not computed again"
            time.sleep(0.05)
        # a range question (not all-time) is computed in the asker's thread once its second is over
        time.sleep(0.1)
        assert queries.summarize(store, queries.TimeRange(0, time.time() + 60)).calls == 5
        _insert(clickhouse_url, 1, 0.5)
        time.sleep(0.1)
        assert queries.summarize(store, queries.TimeRange(0, time.time() + 60)).calls == 6


def test_an_aggregate_older_than_the_stale_limit_is_computed_in_the_askers_thread(
    clickhouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clickhouse_store, "CACHE_SECONDS", 0.01)
    monkeypatch.setattr(clickhouse_store, "STALE_SECONDS", 0.05)
    _insert(clickhouse_url, 2, 0.1)
    with open_store(settings_for(tmp_path, store=clickhouse_url)) as store:
        assert _requests(store) == 2
        _insert(clickhouse_url, 2, 0.1)
        time.sleep(0.1)
        assert _requests(store) == 4
