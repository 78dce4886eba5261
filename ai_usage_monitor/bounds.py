"""Length bounds on the names and messages the monitor serves (``/metrics`` labels, dashboard JSON), so one
record with a megabyte-long model name or error message cannot bloat every scrape or refresh."""

from __future__ import annotations

import hashlib

__all__ = ["MESSAGE_MAX_CHARS", "NAME_MAX_CHARS", "OTHER", "cut"]

#: The name the values past a top N are summed under (dashboard lists, /metrics labels, forecasts).
OTHER = "other"
#: Longest name (model, function, user, label value…) served as is.
NAME_MAX_CHARS = 128
#: Longest error message served as is.
MESSAGE_MAX_CHARS = 1000
_HASH_CHARS = 8


def cut(value: str, limit: int = NAME_MAX_CHARS) -> str:
    """``value``, or when longer than ``limit`` its start, ``…`` and a hash of the whole value: ``limit``
    characters in all, and two long values that share their start still come out different."""
    if len(value) <= limit:
        return value
    whole = value.encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(whole, digest_size=_HASH_CHARS // 2).hexdigest()
    return f"{value[: limit - _HASH_CHARS - 1]}…{digest}"
