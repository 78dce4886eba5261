"""A ClickHouse connection over the native protocol (``clickhouse-driver``): one client per thread, the
server's version, statements sent with their parameters already inlined (see ``bind``), so what the server
runs is one plain SQL text that tests can replay elsewhere."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ai_usage_monitor.store_url import DEFAULT_PORT, StoreURL, redact_url

__all__ = [
    "CHECK_TIMEOUT",
    "MIGRATE_FIRST",
    "ClickHouseClient",
    "StoreUnavailable",
    "bind",
    "error_line",
    "is_unavailable",
    "literal",
    "observe_statements",
    "quiet_driver_log",
]

# The driver logs a failed connection with its traceback; the caller reports it as one line instead (an app
# that configures logging still sees the driver's records through its own handlers).
logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())


def quiet_driver_log() -> None:
    """Drop the driver's per-attempt warnings (each with a traceback) from the CLI's log: the shipper and the
    API log an outage as one line when it starts and one when it ends."""
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)


#: Seconds ``check`` waits to connect and for the server's first answer.
CHECK_TIMEOUT = 5.0
#: Called with every statement text a ``ClickHouseClient`` sends (tests replay them on chdb).
_observers: list[Callable[[str], None]] = []
_PLACEHOLDER = re.compile(r"\?|\$([A-Za-z_][A-Za-z0-9_]*)")


class StoreUnavailable(RuntimeError):
    """The ClickHouse store cannot be reached or refused us; the message never holds the password. ``fix``:
    what to do, when the error says (e.g. a missing database: migrate first)."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


#: The fix of a missing database or ``records`` table.
MIGRATE_FIRST = "run `ai-usage-monitor store migrate` first"
#: ClickHouse's error code for a database that does not exist.
UNKNOWN_DATABASE = 81


@contextlib.contextmanager
def observe_statements(observer: Callable[[str], None]) -> Iterator[None]:
    """Call ``observer`` with each statement sent while the block runs."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def literal(value: Any) -> str:
    """``value`` as a ClickHouse literal that old and current servers read alike (booleans as 1 / 0)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"no ClickHouse literal for {type(value).__name__}")


def bind(sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> str:
    """``sql`` with its ``?`` (positional) or ``$name`` (named) parameters replaced by literals."""
    if not params:
        return sql
    if isinstance(params, Mapping):
        named = params
        return _PLACEHOLDER.sub(lambda m: literal(named[m.group(1)]) if m.group(1) else m.group(0), sql)
    values = iter(params)
    return _PLACEHOLDER.sub(lambda m: literal(next(values)) if m.group(1) is None else m.group(0), sql)


def _errors() -> tuple[type[BaseException], ...]:
    from clickhouse_driver import errors

    return (errors.Error, OSError, EOFError)


#: Server error codes that mean the store cannot be used as configured (not a bad statement): unknown table,
#: unknown database, too many queries, unknown user / wrong or missing password, authentication failed.
_UNAVAILABLE_CODES = frozenset({60, 81, 202, 192, 193, 194, 516})


def is_unavailable(exc: BaseException) -> bool:
    """``exc`` says the store cannot be reached or refused us (network, login, database), not a bug."""
    from clickhouse_driver import errors

    if isinstance(exc, errors.ServerException):
        return exc.code in _UNAVAILABLE_CODES
    return isinstance(
        exc,
        (
            errors.NetworkError,
            errors.SocketTimeoutError,
            errors.UnexpectedPacketFromServerError,
            OSError,
            EOFError,
        ),
    )


def error_line(exc: BaseException) -> str:
    """The driver's error as one line: the server's stack trace cut off, passwords redacted, and for a missing
    database what to do."""
    line = redact_url(" ".join(str(exc).split("Stack trace")[0].split()))[:300] or type(exc).__name__
    return f"{line} ({MIGRATE_FIRST})" if getattr(exc, "code", None) == UNKNOWN_DATABASE else line


def _release(rows: list[tuple[Any, ...]]) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", str(rows[0][0]))[:3])


class ClickHouseClient:
    """Connections to one ClickHouse database; thread-safe (a driver client per thread)."""

    def __init__(
        self,
        url: StoreURL,
        *,
        database: str | None = None,
        connect_timeout: float = 5.0,
        send_receive_timeout: float = 300.0,
    ) -> None:
        self.url = url
        self.database = url.database if database is None else database
        self._connect_timeout = connect_timeout
        self._timeout = send_receive_timeout
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def _new_client(self, timeout: float | None = None) -> Any:
        from clickhouse_driver import Client

        return Client(
            host=self.url.host,
            port=self.url.port,
            user=self.url.user,
            password=self.url.password,
            database=self.database,
            connect_timeout=self._connect_timeout if timeout is None else timeout,
            send_receive_timeout=self._timeout if timeout is None else timeout,
            sync_request_timeout=self._connect_timeout if timeout is None else timeout,
        )

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            if self._closed:
                raise RuntimeError("the ClickHouse store is closed")
            client = self._new_client()
            with self._lock:
                self._clients.append(client)
            self._local.client = client
        return client

    @staticmethod
    def _notify(sql: str) -> None:
        for observer in list(_observers):
            observer(sql)

    def execute(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` (parameters inlined by ``bind``) and return every row."""
        text = bind(sql, params)
        self._notify(text)
        rows: list[tuple[Any, ...]] = self._client().execute(text)
        return rows

    def stream(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, block_rows: int = 10_000
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` read lazily, on a connection of their own."""
        text = bind(sql, params)
        self._notify(text)
        client = self._new_client()
        try:
            yield from client.execute_iter(text, settings={"max_block_size": block_rows})
        finally:
            client.disconnect()

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in ``columns`` order) in one native INSERT."""
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        self._notify(sql)
        self._client().execute(sql, rows if isinstance(rows, list) else list(rows))

    def server_version(self) -> tuple[int, ...]:
        """The server's release, e.g. ``(18, 16, 1)``."""
        return _release(self.execute("SELECT version()"))

    def check(self) -> tuple[int, ...]:
        """Connect and return the server version, within ``CHECK_TIMEOUT`` s (a port that is not ClickHouse's
        native one may accept the connection and never answer); ``StoreUnavailable`` (one line) otherwise."""
        sql = "SELECT version()"
        self._notify(sql)
        client = self._new_client(CHECK_TIMEOUT)
        try:
            return _release(client.execute(sql))
        except _errors() as exc:
            from clickhouse_driver.errors import SocketTimeoutError

            reason = error_line(exc)
            if isinstance(exc, SocketTimeoutError):
                reason += (
                    f"; no answer in {CHECK_TIMEOUT:g} s: is {self.url.port} the native TCP port "
                    f"({DEFAULT_PORT}), not the HTTP one (8123)?"
                )
            fix = MIGRATE_FIRST if getattr(exc, "code", None) == UNKNOWN_DATABASE else None
            raise StoreUnavailable(
                f"cannot use the ClickHouse store {self.url.redacted}: {reason}", fix
            ) from None
        finally:
            client.disconnect()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                client.disconnect()
