"""The ``store`` setting: empty for the local DuckDB index, or a ClickHouse URL
``clickhouse://USER:PASSWORD@HOST:PORT/DATABASE`` (PORT: the native TCP port).

Parsed once into a ``StoreURL``; its ``redacted`` form, never the password, is what errors and logs show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_PORT", "ENCODE_HINT", "StoreURL", "parse_store_url", "redact_url"]

#: ClickHouse's native TCP port when the URL names none.
DEFAULT_PORT = 9000
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: ``scheme://user:`` then everything up to the last ``@`` before a blank: a password with an unencoded ``@``,
#: ``#`` or ``/`` in it is hidden whole (hiding a query's ``@`` too is the safe mistake).
_PASSWORD_IN_URL = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)\S*@")
#: How to write a password with special characters into the URL.
ENCODE_HINT = "percent-encode the password's special characters (# as %23, @ as %40, / as %2F, : as %3A)"


def redact_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced by ``***``."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***@", text)


@dataclass(frozen=True, slots=True)
class StoreURL:
    """Where the ClickHouse store lives."""

    host: str
    port: int
    user: str
    database: str
    password: str = field(default="", repr=False)

    @property
    def redacted(self) -> str:
        secret = ":***" if self.password else ""
        return f"clickhouse://{self.user}{secret}@{self.host}:{self.port}/{self.database}"

    def __str__(self) -> str:
        return self.redacted


def parse_store_url(value: str) -> StoreURL:
    """``value`` as a ``StoreURL``; ``ValueError`` (its message without the password) when it is not one."""
    shown = redact_url(value)
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:  # its text may quote a piece of the password: never shown
        raise ValueError(f"{shown!r} is not a URL (bad port?); {ENCODE_HINT}") from None
    if parts.scheme != "clickhouse":
        raise ValueError(
            "expected clickhouse://USER:PASSWORD@HOST:PORT/DATABASE (PORT: the native TCP port, "
            "usually 9000), or nothing for the local DuckDB index"
        )
    if not parts.hostname:
        raise ValueError(f"{shown!r} names no host")
    database = parts.path.strip("/") or "default"
    if not _DATABASE.fullmatch(database):
        raise ValueError(
            f"database name {database!r} must be letters, digits and _ (not starting with a digit)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{shown!r} has a query or fragment; the URL takes none ({ENCODE_HINT})")
    return StoreURL(
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        user=unquote(parts.username or "default"),
        database=database,
        password=unquote(parts.password or ""),
    )
