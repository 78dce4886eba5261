"""The CLI on a ClickHouse store: ``store migrate`` says what it did and is safe to run again, the read
commands take ``--store``, and a bad URL or an unreachable server is one line naming the setting, never
the password."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.api.conftest import boundary_records
from tests.api.helpers import SHANGHAI, settle_clock
from tests.cli.test_setup_errors import one_line_error, run_cli
from tests.support.clickhouse import ClickHouseServer, load_jsonl
from tests.support.processes import free_port
from tests.support.records import write_records


def test_migrate_then_again_then_report_from_clickhouse(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    database = clickhouse_server.new_database("cli")
    url = clickhouse_server.url(database)
    first = run_cli(["store", "migrate"], tmp_path, AI_USAGE_STORE=url)
    assert first.returncode == 0, first.stderr
    assert f"created database {database}" in first.stdout
    assert f"created table {database}.records" in first.stdout
    again = run_cli(["store", "migrate", "--store", url], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout and clickhouse_server.password not in again.stdout
    records = boundary_records(settle_clock(margin=60.0))
    write_records(tmp_path / "records", records, SHANGHAI)
    load_jsonl(url, tmp_path / "records")
    # no records folder here: the report comes from ClickHouse alone
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_cli(["report", "--days", "366", "--format", "json", "--store", url], elsewhere)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    start = datetime.fromisoformat(report["period"]["start"]).timestamp()
    in_range = [r for r in records if r.timestamp >= start]
    assert report["totals"]["calls"] == len(in_range)
    assert report["totals"]["cost"] == pytest.approx(sum(r.cost for r in in_range))


@pytest.mark.parametrize("how", ["option", "environment"])
def test_an_unreachable_store_is_one_line_naming_the_setting(how: str, tmp_path: Path) -> None:
    url = f"clickhouse://ops:hunter2secret@127.0.0.1:{free_port()}/usage"
    args, env = (["--store", url], {}) if how == "option" else ([], {"AI_USAGE_STORE": url})
    for command in (["report"], ["store", "migrate"]):
        done = run_cli([*command, *args], tmp_path, **env)
        line = one_line_error(done, "ClickHouse", "127.0.0.1")
        assert "hunter2secret" not in done.stderr and "***" in line
        assert ("option --store" if how == "option" else "AI_USAGE_STORE") in line


def test_a_bad_store_url_is_one_line(tmp_path: Path) -> None:
    done = run_cli(["report", "--store", "postgres://ops:hunter2secret@db/usage"], tmp_path)
    line = one_line_error(done, "store", "option --store", "clickhouse://")
    assert "hunter2secret" not in done.stderr and line.startswith("ai-usage-monitor: error:")


def test_the_http_port_is_one_line_naming_the_native_port(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    """The HTTP port accepts the connection and never answers the native hello: a short wait, then a hint."""
    url = f"clickhouse://monitor:{clickhouse_server.password}@127.0.0.1:{clickhouse_server.http_port}/db"
    done = run_cli(["store", "migrate", "--store", url], tmp_path)
    line = one_line_error(done, "ClickHouse", f"is {clickhouse_server.http_port} the native TCP port")
    assert clickhouse_server.password not in done.stderr and "(8123)" in line


def test_a_missing_database_says_to_migrate_first(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    url = clickhouse_server.url(clickhouse_server.new_database("nodb"))  # never migrated
    line = one_line_error(run_cli(["report", "--store", url], tmp_path), "ClickHouse", "Code: 81")
    assert "run `ai-usage-monitor store migrate` first" in line
    assert "user and password" not in line and "Stack trace" not in line
