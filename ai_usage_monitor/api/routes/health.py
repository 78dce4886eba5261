"""``/health``: the store's own state — records indexed, corrupt lines skipped, lines still torn, lag — and
the records writing processes dropped.

Paths are shown relative to the working directory, or as ``…/<name>`` when outside it: an open probe
endpoint should not tell where the monitor lives on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response, status

from ai_usage_monitor.api.deps import StoreDep
from ai_usage_monitor.api.schemas import Health, RecordsDropped
from ai_usage_monitor.exporter.drops import read_ledgers, summarize_drops

__all__ = ["redact_path", "router"]

router = APIRouter(tags=["health"])


def redact_path(path: str | Path) -> str:
    """``path`` relative to the working directory when inside it, else only its last part after ``…/``."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return f"…/{absolute.name}"


def _redacted(report: dict[str, Any], folders: list[Path]) -> dict[str, Any]:
    index_path = report.get("index_path")
    if isinstance(index_path, str) and index_path != ":memory:":
        report["index_path"] = redact_path(index_path)
    error = report.get("last_error")
    if isinstance(error, str):
        # longest first, so a folder inside another is replaced whole
        for folder in sorted({str(Path(os.path.abspath(f))) for f in folders}, key=len, reverse=True):
            error = error.replace(folder, redact_path(folder))
        report["last_error"] = error
    return report


@router.get(
    "/health",
    response_model=Health,
    summary="The store's state",
    responses={503: {"model": Health, "description": "The store cannot read the records"}},
)
def health(store: StoreDep, response: Response) -> Health:
    settings = store.settings
    folders = [settings.records_dir, settings.index_path, settings.reports_path]
    report = Health.model_validate(_redacted(store.health(), folders))
    report.records_dropped = RecordsDropped.model_validate(
        _redacted(summarize_drops(read_ledgers(settings.records_dir)), folders)
    )
    if report.status != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return report
