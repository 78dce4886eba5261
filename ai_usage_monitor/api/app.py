"""The FastAPI app factory, and the router a user can mount into their own app (embedded: docs/architecture.md
§3).

The router's lifespan opens the store (unless one is given), starts its tail thread so records other
processes append show up within a second, and gives every request the store and a private metrics
registry through the lifespan state — no module-level state, so several apps can live in one process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from ai_usage_monitor.api.deps import REGISTRY_STATE_KEY, STORE_STATE_KEY
from ai_usage_monitor.api.docs import mount_docs
from ai_usage_monitor.api.guard import add_web_guard
from ai_usage_monitor.api.routes import (
    advice,
    alerts,
    budgets,
    dashboard,
    health,
    metrics,
    notifications,
    rankings,
    reports,
    stats,
)
from ai_usage_monitor.api.routes import forecast as forecast_routes
from ai_usage_monitor.api.security import require_token
from ai_usage_monitor.api.store_errors import add_store_error_handler
from ai_usage_monitor.config import Settings
from ai_usage_monitor.exporter.prometheus import UsageCollector
from ai_usage_monitor.insights.digest_schedule import DigestScheduler, start_digest
from ai_usage_monitor.store.backend import Store, open_store
from ai_usage_monitor.store.retention import RetentionScheduler, start_retention

__all__ = ["API_PREFIX", "PAGE_PATH", "STATIC_DIR", "create_app", "create_router", "mount"]

API_PREFIX = "/api/ai_usage"
STATIC_DIR = Path(__file__).with_name("static")
PAGE_PATH = "/static/ai_usage_monitor.html"


def _version() -> str:
    try:
        return version("ai-usage-monitor")
    except PackageNotFoundError:
        return "0+unknown"


def _store_lifespan(settings: Settings | None, store: Store | None) -> Callable[[Any], Any]:
    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[dict[str, Any]]:
        owned = store is None
        digest: DigestScheduler | None = None
        retention: RetentionScheduler | None = None
        active = open_store(settings or Settings()) if store is None else store
        try:
            with suppress(Exception):  # logged by the store, shown by /health; the tail thread retries
                await run_in_threadpool(active.refresh)
            active.start_tailing()
            retention = start_retention(active)
            notifications.start_outbox(active.settings)
            digest = start_digest(active)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(UsageCollector(active))
            yield {STORE_STATE_KEY: active, REGISTRY_STATE_KEY: registry}
        finally:
            if digest is not None:
                await run_in_threadpool(digest.stop)
            if retention is not None:
                await run_in_threadpool(retention.stop)
            await run_in_threadpool(active.stop_tailing)
            if owned:
                await run_in_threadpool(active.close)

    return lifespan


def create_router(settings: Settings | None = None, store: Store | None = None) -> APIRouter:
    """Every route of the monitor (``/api/ai_usage/*``, ``/health``, ``/metrics``) with the store's lifespan.

    ``app.include_router(create_router(settings))`` adds the monitor to an existing FastAPI app; the app's
    lifespan then opens and tails the store. A given ``store`` is tailed but not closed.
    """
    router = APIRouter(lifespan=_store_lifespan(settings, store))
    guarded = [Depends(require_token)]
    for module in (stats, rankings, reports, dashboard, alerts, notifications, advice, budgets):
        router.include_router(module.router, prefix=API_PREFIX, dependencies=guarded)
    router.include_router(forecast_routes.router, prefix=API_PREFIX, dependencies=guarded)
    router.include_router(dashboard.config_router, prefix=API_PREFIX)
    router.include_router(health.router)
    router.include_router(metrics.router)
    return router


def mount(
    app: FastAPI,
    settings: Settings | None = None,
    store: Store | None = None,
    *,
    prefix: str = "",
    with_page: bool = True,
) -> None:
    """Add the monitor to a user's app under ``prefix`` (e.g. ``"/ai-usage"``): its routes (503 when the store
    is unreachable) and, with ``with_page``, the dashboard page at ``{prefix}/static/ai_usage_monitor.html``.
    The web guard is the app's own choice: ``add_web_guard(app, settings)`` adds it."""
    app.include_router(create_router(settings, store), prefix=prefix)
    add_store_error_handler(app)
    if with_page:
        app.mount(
            f"{prefix}/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="ai_usage_static"
        )


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """The standalone monitor server: API, ``/metrics``, ``/health``, the dashboard page at ``/`` and the API
    page at ``/docs``, behind the web guard (body limit, Host check, cross-site writes refused)."""
    if store is not None:
        settings = store.settings
    settings = settings or Settings()
    app = FastAPI(
        title="AI Usage Monitor",
        summary="Tokens, money, time and errors of every LLM API call",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    mount(app, settings, store)
    mount_docs(app)
    add_web_guard(app, settings)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse(PAGE_PATH)

    return app
