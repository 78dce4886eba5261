"""``/docs``: Swagger UI served from the installed ``swagger-ui-bundle-v2`` package, so the API page works
offline and under a strict Content-Security-Policy (no CDN, no inline script). ReDoc is turned off."""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from ai_usage_monitor.api.guard import CONTENT_SECURITY_POLICY

__all__ = ["DOCS_ASSETS", "DOCS_CSP", "DOCS_PATH", "mount_docs"]

DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs-assets"
#: Swagger UI sets inline styles as it renders; scripts stay limited to this server's files.
DOCS_CSP = CONTENT_SECURITY_POLICY + "; style-src 'self' 'unsafe-inline'"

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>{title}</title>
    <link rel="stylesheet" href="{assets}/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui" data-openapi-url="{openapi}"></div>
    <script src="{assets}/swagger-ui-bundle.js"></script>
    <script src="{static}/docs-init.js"></script>
  </body>
</html>
"""


def mount_docs(app: FastAPI, static_prefix: str = "/static") -> None:
    """Serve Swagger UI's files at ``/docs-assets`` and the page at ``/docs`` (the app's ``openapi_url``)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="ai_usage_swagger_ui")

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = _PAGE.format(
            title=escape(f"{app.title} - API"),
            assets=escape(root + DOCS_ASSETS),
            static=escape(root + static_prefix),
            openapi=escape(root + (app.openapi_url or "/openapi.json")),
        )
        return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})
