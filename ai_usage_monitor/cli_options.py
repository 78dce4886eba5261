"""Command-line pieces shared by the ``ai-usage-monitor`` commands and their sub-apps (``pricing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["RecordsDirOption", "StoreOption", "wide_console"]

RecordsDirOption = Annotated[
    Path | None,
    typer.Option("--records-dir", help="Folder of usage_*.jsonl files (env AI_USAGE_RECORDS_DIR)."),
]

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Query ClickHouse at clickhouse://USER:PASSWORD@HOST:PORT/DATABASE instead of the local "
        "index (env AI_USAGE_STORE; prefer the variable: options show in the process list).",
    ),
]


def wide_console(min_width: int = 110) -> Console:
    """A console at least ``min_width`` columns wide: tables stay readable when piped (rich assumes 80)."""
    return Console(width=max(Console().width, min_width))
