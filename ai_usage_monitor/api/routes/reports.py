"""Write a usage report into the reports folder, and hand back only files written that way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from ai_usage_monitor.api.deps import ExportDays, ReportFormat, StoreDep
from ai_usage_monitor.api.report_files import (
    ReportNameError,
    ReportNotFound,
    new_report_path,
    open_report,
)
from ai_usage_monitor.api.schemas import ExportResult
from ai_usage_monitor.store.reports import build_report, write_report

__all__ = ["router"]

router = APIRouter(tags=["reports"])

_DOWNLOAD_ROUTE = "ai_usage_download_report"
_MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}
_CHUNK = 1 << 16


@router.post(
    "/export_report",
    response_model=ExportResult,
    summary="Write a report of the last N days into the reports folder",
    responses={503: {"description": "The reports folder is not writable"}},
)
def export_report(
    request: Request, store: StoreDep, days: ExportDays = 7, fmt: ReportFormat = "json"
) -> ExportResult:
    report = build_report(store, days)
    try:
        path = new_report_path(store.settings.reports_path, store.tz, fmt)
    except OSError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the reports folder is not writable"
        ) from exc
    try:
        write_report(report, path, fmt)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    download = request.url_for(_DOWNLOAD_ROUTE).include_query_params(path=path.name)
    return ExportResult(
        success=True,
        report_path=str(path),
        download_url=f"{download.path}?{download.query}",
        format=fmt,
    )


def _read_chunks(fd: int) -> Iterator[bytes]:
    try:
        while chunk := os.read(fd, _CHUNK):
            yield chunk
    finally:
        os.close(fd)


@router.get(
    "/download_report",
    name=_DOWNLOAD_ROUTE,
    response_class=StreamingResponse,
    summary="Download a report this server wrote",
    responses={
        200: {
            "description": "The report file",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        400: {"description": "Not the bare name of a report file"},
        404: {"description": "No such report"},
    },
)
def download_report(
    store: StoreDep,
    path: Annotated[str, Query(max_length=64, description="Report file name, as export_report returned it")],
) -> StreamingResponse:
    try:
        fd, size = open_report(store.settings.reports_path, path)
    except ReportNameError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "path must be the bare file name of a report this server wrote, "
            "like usage_report_20251026_143022.json",
        ) from None
    except ReportNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report") from None
    suffix = path.rsplit(".", 1)[1]
    return StreamingResponse(
        _read_chunks(fd),
        media_type=_MEDIA_TYPES[suffix],
        headers={"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{path}"'},
    )
