"""Command-line options shared by the ``ai-usage-monitor`` commands and their sub-apps (``pricing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["RecordsDirOption"]

RecordsDirOption = Annotated[
    Path | None,
    typer.Option("--records-dir", help="Folder of usage_*.jsonl files [env AI_USAGE_RECORDS_DIR]."),
]
