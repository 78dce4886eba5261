"""The ClickHouse backend's foundations against a real server: the store URL, ``migrate`` (idempotent,
columns added as ``INDEXED_FIELDS`` grows, retention by whole months on a server without TTL), and the JSONL
line → row conversion, which must keep exactly what the DuckDB ingest keeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ai_usage_monitor.config import Settings, SettingsError
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import queries
from ai_usage_monitor.store.backend import open_store
from ai_usage_monitor.store.clickhouse import (
    ClickHouseClient,
    StoreUnavailable,
    insert_columns,
    insert_records,
    line_row,
    migrate,
    rows_from_lines,
)
from ai_usage_monitor.store.clickhouse import schema as ch_schema
from ai_usage_monitor.store.clickhouse.client import literal, observe_statements
from ai_usage_monitor.store.index import UsageStore
from ai_usage_monitor.store.schema import decode_tags
from ai_usage_monitor.store_url import parse_store_url, redact_url
from ai_usage_monitor.testing.hostile import HOSTILE_KINDS, hostile_chunk
from tests.store.helpers import make_records, settings_for
from tests.support.clickhouse import ClickHouseServer, chdb_session
from tests.support.records import write_records

NOW = time.time()


def _client(url: str) -> ClickHouseClient:
    return ClickHouseClient(parse_store_url(url))


def test_url_parts_and_defaults() -> None:
    url = parse_store_url("clickhouse://ops:s%3Acret@ch.internal:9440/usage")
    assert (url.user, url.password, url.host, url.port, url.database) == (
        "ops",
        "s:cret",
        "ch.internal",
        9440,
        "usage",
    )
    assert "s:cret" not in url.redacted and "s:cret" not in repr(url) and "s:cret" not in str(url)
    plain = parse_store_url("clickhouse://localhost")
    assert (plain.user, plain.port, plain.database) == ("default", 9000, "default")


@pytest.mark.parametrize(
    "value",
    [
        "http://u:hunter2secret@h:8123/db",
        "clickhouse://u:hunter2secret@:9000/db",
        "clickhouse://u:hunter2secret@h:99999/db",
        "clickhouse://u:hunter2secret@h:9000/bad-name",
        "clickhouse://u:hunter2secret@h:9000/db?x=1",
    ],
)
def test_a_bad_store_url_is_one_line_naming_the_setting_without_the_password(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(store=value)
    message = str(caught.value)
    assert "\n" not in message
    assert "store" in message and "keyword argument store=" in message
    assert "hunter2secret" not in message


@pytest.mark.parametrize("password", ["S3cret#pw@x", "S3cret@pw@x", "S3cret/pw@x", "S3cret?pw@x"])
def test_a_password_with_unencoded_special_characters_never_shows(password: str) -> None:
    value = f"clickhouse://monitor:{password}@127.0.0.1:34447/ai_usage"
    assert redact_url(f"store {value} down") == "store clickhouse://monitor:***@127.0.0.1:34447/ai_usage down"
    try:
        Settings(store=value)
    except SettingsError as exc:
        message = str(exc)
        assert "percent-encode" in message
        assert not any(piece in message for piece in ("S3cret", "pw", "@x"))


def test_an_unreachable_server_is_one_line_without_the_password(clickhouse_server: ClickHouseServer) -> None:
    wrong = f"clickhouse://monitor:not-the-password@127.0.0.1:{clickhouse_server.tcp_port}/x"
    with pytest.raises(StoreUnavailable) as caught:
        _client(wrong).check()
    assert "not-the-password" not in str(caught.value) and "\n" not in str(caught.value)
    assert "clickhouse://monitor:***@127.0.0.1" in str(caught.value)


def test_migrate_creates_once_then_has_nothing_to_do(
    clickhouse_url: str, clickhouse_server: ClickHouseServer
) -> None:
    client = _client(clickhouse_url)
    try:
        done = migrate(client)
        assert any("created database" in line for line in done)
        assert any("created table" in line for line in done)
        assert migrate(client) == []
        database = client.database
        described = clickhouse_server.http(
            f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = 'records'"
        )
        columns = dict(line.split("\t") for line in described.strip().splitlines())
        assert columns == ch_schema.column_types()
        assert columns["ts"] == "Float64" and columns["user_id"] == "Nullable(String)"
        assert columns["success"] == "UInt8" and columns["record_id"] == "String"
        versions = clickhouse_server.http(f"SELECT version FROM {database}.schema_version").split()
        assert versions == [str(ch_schema.SCHEMA_VERSION)]
    finally:
        client.close()


def test_a_field_added_to_the_index_is_added_as_a_column(
    clickhouse_url: str, clickhouse_server: ClickHouseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(clickhouse_url)
    try:
        migrate(client)
        monkeypatch.setitem(ch_schema.INDEXED_FIELDS, "labels", "VARCHAR[]")
        monkeypatch.setitem(ch_schema.INDEXED_FIELDS, "region", "VARCHAR")
        assert ch_schema.column_types()["labels"] == "Array(String)"
        done = migrate(client)
        assert sorted(done) == ["added column labels Array(String)", "added column region Nullable(String)"]
        assert migrate(client) == []
        row = line_row(UsageRecord(timestamp=NOW, tags={"env": "prod", "区域": "华东"}).to_json_line())
        assert row is not None
        assert sorted(row[insert_columns().index("tags")]) == ["env\x1fprod", "区域\x1f华东"]
        insert_records(client, [row])
        assert client.execute(f"SELECT tags FROM {client.database}.records") == [
            (["env\x1fprod", "区域\x1f华东"],)
        ]
    finally:
        client.close()


def test_retention_drops_whole_old_months_on_a_server_without_ttl(
    clickhouse_url: str, clickhouse_server: ClickHouseServer
) -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
    months = [datetime(2026, m, 15, tzinfo=UTC).timestamp() for m in (8, 10, 11, 12)]
    client = _client(clickhouse_url)
    try:
        migrate(client)
        rows = [line_row(UsageRecord(timestamp=ts).to_json_line()) for ts in months]
        insert_records(client, [r for r in rows if r is not None])
        # 40 days before Dec 7 is Oct 28: August and September are wholly older, October is not
        done = migrate(client, retention_days=40, now=now)
        assert done == ["dropped month 202608 of " + client.database + ".records (older than 40 days)"]
        left = clickhouse_server.http(
            f"SELECT toYYYYMM(toDateTime(toUInt32(ts), 'UTC')) FROM {client.database}.records ORDER BY ts"
        )
        assert left.split() == ["202610", "202611", "202612"]
    finally:
        client.close()


def _pairs(tags: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tags.items()))


def test_rows_keep_what_the_duckdb_ingest_keeps(tmp_path: Path) -> None:
    """Hostile lines (refused numbers, not JSON, bad UTF-8, …) and good ones: the rows are the records the
    DuckDB index keeps, value for value, and the corrupt count is the index's."""
    kinds = [k for k in HOSTILE_KINDS if not k.startswith("torn") and k != "huge_line"]
    settings = settings_for(tmp_path)
    records = make_records(2 * len(kinds), NOW - 86400, NOW)
    settings.records_dir.mkdir(parents=True)
    chunks, corrupt = [], 0
    for i, record in enumerate(records):
        data, bad = hostile_chunk(kinds[i % len(kinds)], record)
        chunks.append(data)
        corrupt += bad
    # an older record: the requested model under request_model, and no record_id at all
    legacy = b'{"timestamp": %r, "model": "qwen-plus-2025-09-11", "request_model": "qwen-plus"}\n' % NOW
    (settings.records_dir / "usage_2026-01-01.jsonl").write_bytes(b"".join(chunks) + legacy)
    rows, bad = rows_from_lines(b"".join([*chunks, legacy]).splitlines())
    assert bad == corrupt
    with UsageStore(settings) as store:
        store.refresh()
        indexed = [tuple(r.values()) for r in queries.iter_records(store, None)]
        assert store.health()["corrupt_lines"] == corrupt
    # the index keeps a duplicated line once; ClickHouse collapses it by record_id (see the next test)
    tags_at = insert_columns().index("tags")
    converted = sorted(
        {tuple(_pairs(decode_tags(v)) if i == tags_at else v for i, v in enumerate(row[:-1])) for row in rows}
    )
    assert converted == sorted(tuple(_pairs(v) if isinstance(v, dict) else v for v in r) for r in indexed)
    assert rows[-1][insert_columns().index("model")] == "qwen-plus"
    assert rows[-1][-1].startswith("line:") and line_row(legacy) == rows[-1]


def test_a_batch_inserted_twice_counts_once(
    clickhouse_url: str, clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    records = make_records(500, NOW - 40 * 86400, NOW)
    write_records(tmp_path, records, Settings(timezone="UTC").tz)
    lines = [line for p in sorted(tmp_path.glob("*.jsonl")) for line in p.read_bytes().splitlines()]
    rows, bad = rows_from_lines(lines)
    assert (len(rows), bad) == (500, 0)
    client = _client(clickhouse_url)
    try:
        migrate(client)
        insert_records(client, rows, batch_rows=128)
        insert_records(client, rows[:300], batch_rows=1000)
        final = clickhouse_server.http(
            f"SELECT count(), sum(cost) FROM {client.database}.records FINAL"
        ).split()
        assert int(final[0]) == 500
        assert float(final[1]) == pytest.approx(sum(r.cost for r in records))
    finally:
        client.close()


def test_the_running_store_drops_months_past_the_retention(
    clickhouse_url: str, clickhouse_server: ClickHouseServer
) -> None:
    """A server without TTL: the store's refresh drops months wholly past ``index_retention_days``."""
    client = _client(clickhouse_url)
    try:
        migrate(client)
        rows = [line_row(UsageRecord(timestamp=NOW - days * 86400).to_json_line()) for days in (100, 1)]
        insert_records(client, [r for r in rows if r is not None])
    finally:
        client.close()
    settings = Settings(store=clickhouse_url, index_retention_days=40, timezone="UTC")
    with open_store(settings) as store:
        assert store.mode == "clickhouse" and store.health()["records_indexed"] == 2
        store.refresh()
        assert queries.summarize(store, None).calls == 1
        assert queries.summarize(store, None).first_timestamp == pytest.approx(NOW - 86400)


def test_retention_statements_run_on_a_current_engine(tmp_path: Path) -> None:
    """The DDL of the TTL branch (servers from 19.6 on) and the month drop run on chdb's current engine."""
    for runner in chdb_session(tmp_path, "retention"):
        runner.run(ch_schema.records_ddl("retention.records", retention_days=30))
        assert "toIntervalDay(30)" in runner.run("SHOW CREATE TABLE retention.records")
        row = line_row(UsageRecord(timestamp=datetime(2026, 8, 15, tzinfo=UTC).timestamp()).to_json_line())
        assert row is not None
        runner.run(f"INSERT INTO retention.records VALUES ({', '.join(map(literal, row))})")
        runner.run(ch_schema.modify_ttl_sql("retention.records", 90))
        assert "toIntervalDay(90)" in runner.run("SHOW CREATE TABLE retention.records")
        runner.run(ch_schema.remove_ttl_sql("retention.records"))
        assert "TTL" not in runner.run("SHOW CREATE TABLE retention.records")
        runner.run(ch_schema.drop_month_sql("retention.records", 202608))
        assert runner.run("SELECT count() FROM retention.records").strip() == "0"


def test_time_range_queries_use_the_primary_index(
    clickhouse_url: str, clickhouse_server: ClickHouseServer
) -> None:
    """An old server infers nothing about the sorting key from ``ts`` bounds: the range queries also bound
    the key's day expression, and the server refuses them if its index is unused (``force_primary_key``)."""
    client = _client(clickhouse_url)
    try:
        migrate(client)
        rows = [line_row(UsageRecord(timestamp=NOW - h * 3600).to_json_line()) for h in range(0, 200, 7)]
        insert_records(client, [r for r in rows if r is not None])
    finally:
        client.close()
    seen: list[str] = []
    with open_store(Settings(store=clickhouse_url, timezone="UTC")) as store, observe_statements(seen.append):
        rng = queries.TimeRange(NOW - 86400, NOW + 1)
        assert queries.summarize(store, rng).calls == 4
        queries.ranking(store, "model", queries.TimeRange(NOW - 86400, NOW - 3600), 10)
    assert len(seen) == 2
    database = parse_store_url(clickhouse_url).database
    for sql in seen:
        clickhouse_server.http(f"{sql} SETTINGS force_primary_key = 1", database)
