"""A store that cannot be reached (ClickHouse down, login refused) answers 503 with one JSON line naming it
(password redacted) instead of a 500 and a traceback per request; the store logs the outage once."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ai_usage_monitor.store.clickhouse.client import StoreUnavailable

__all__ = ["add_store_error_handler"]


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})


def add_store_error_handler(app: FastAPI) -> None:
    """Answer ``StoreUnavailable`` raised by any route of ``app`` with a 503."""
    app.add_exception_handler(StoreUnavailable, _unavailable)
