"""A real ``clickhouse-server`` for the tests: one per session on free 127.0.0.1 ports in a temp dir, each
test in a database of its own; and a ``chdb`` session (the current engine, in-process) to check that every
statement the backend sends also runs on a current release."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest

from ai_usage_monitor.store.clickhouse import ClickHouseClient, insert_records, migrate, rows_from_lines
from ai_usage_monitor.store_url import parse_store_url
from ai_usage_monitor.testing.processes import free_port, stop_process

__all__ = [
    "ChdbRunner",
    "ClickHouseServer",
    "chdb_session",
    "clickhouse_server",
    "clickhouse_url",
    "load_jsonl",
    "start_clickhouse",
]

SERVER_BINARY = "clickhouse-server"
USER = "monitor"
_databases = itertools.count(1)


@dataclass
class ClickHouseServer:
    """A running server: native ``tcp_port`` (the store URL's port) and ``http_port`` (for raw checks)."""

    workdir: Path
    tcp_port: int
    http_port: int
    password: str
    process: subprocess.Popen[bytes]

    def url(self, database: str) -> str:
        return f"clickhouse://{USER}:{self.password}@127.0.0.1:{self.tcp_port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh database name (created by the store's migrate), unique within the session."""
        return f"{prefix}_{os.getpid()}_{next(_databases)}"

    def http(self, sql: str, database: str = "default") -> str:
        """``sql``'s answer as text over the HTTP interface, run in ``database`` (raises on an error)."""
        response = httpx.post(
            f"http://127.0.0.1:{self.http_port}/",
            params={"database": database},
            content=sql.encode(),
            auth=(USER, self.password),
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"ClickHouse answered {response.status_code} to {sql!r}: {response.text[:500]}"
            )
        return response.text


def _config(root: Path, tcp_port: int, http_port: int, password: str) -> None:
    data = root / "data"
    for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "users.xml").write_text(
        f"""<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <{USER}>
      <password>{escape(password)}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </{USER}>
  </users>
  <quotas><default></default></quotas>
</yandex>
""",
        encoding="utf-8",
    )
    (root / "config.xml").write_text(
        f"""<yandex>
  <logger>
    <level>warning</level>
    <log>{root}/log/server.log</log>
    <errorlog>{root}/log/error.log</errorlog>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{data}/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>{root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
""",
        encoding="utf-8",
    )


def _ready(http_port: int, password: str) -> bool:
    try:
        response = httpx.post(
            f"http://127.0.0.1:{http_port}/", content=b"SELECT 1", auth=(USER, password), timeout=1
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def start_clickhouse(root: Path, ready_timeout: float = 30.0, attempts: int = 3) -> ClickHouseServer:
    """Start a server in ``root``; retried on other ports when a free port was taken before it bound."""
    binary = shutil.which(SERVER_BINARY) or f"/usr/sbin/{SERVER_BINARY}"
    password = secrets.token_hex(8)
    for _attempt in range(attempts):
        tcp_port, http_port = free_port(), free_port()
        _config(root, tcp_port, http_port, password)
        with (root / "log" / "stdout.log").open("ab") as log:
            process = subprocess.Popen(
                [binary, f"--config-file={root / 'config.xml'}"],
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _ready(http_port, password):
                return ClickHouseServer(root, tcp_port, http_port, password, process)
            time.sleep(0.1)
        stop_process(process)
    raise RuntimeError(f"clickhouse-server did not start; see {root / 'log'}")


@dataclass
class ChdbRunner:
    """A ``chdb`` session (current ClickHouse engine, in-process) in a database of its own."""

    session: object
    database: str

    def run(self, sql: str, fmt: str = "TabSeparated") -> str:
        result = self.session.query(sql, fmt)  # type: ignore[attr-defined]
        return bytes(result.bytes()).decode() if hasattr(result, "bytes") else str(result)


def chdb_session(root: Path, database: str) -> Iterator[ChdbRunner]:
    """A chdb session stored under ``root`` with ``database`` created and in use; closed afterwards."""
    from chdb.session import Session

    session = Session(str(root / "chdb"))
    try:
        session.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        session.query(f"USE {database}")
        yield ChdbRunner(session, database)
    finally:
        session.close()


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """One real ``clickhouse-server`` for the session (per xdist worker), stopped at the end."""
    server = start_clickhouse(tmp_path_factory.mktemp("clickhouse"))
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture
def clickhouse_url(clickhouse_server: ClickHouseServer) -> str:
    """The store URL of a database of this test's own (not created yet: ``migrate`` creates it)."""
    return clickhouse_server.url(clickhouse_server.new_database())


def load_jsonl(url: str, records_dir: Path, retention_days: int = 0) -> int:
    """Migrate the store at ``url`` and insert every record line of ``records_dir``'s JSONL files with the
    backend's own row conversion and batch insert, as the shipper does; returns how many rows went in."""
    client = ClickHouseClient(parse_store_url(url))
    try:
        migrate(client, retention_days)
        lines = [
            line
            for path in sorted(records_dir.glob("usage_*.jsonl"))
            for line in path.read_bytes().splitlines()
        ]
        rows, _corrupt = rows_from_lines(lines)
        return insert_records(client, rows)
    finally:
        client.close()
