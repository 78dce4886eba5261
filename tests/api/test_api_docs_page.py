"""``/docs`` in headless Chromium with every request off this server blocked: Swagger UI comes from the
installed package, renders every operation of the schema, and keeps to the page's Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Route, sync_playwright

from tests.api.conftest import settings_for
from tests.dashboard.support import launch_chromium, save_screenshot
from tests.support.servers import serve_monitor

_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_monitor(settings_for(tmp_path_factory.mktemp("docs"))) as url:
        yield url


def test_docs_render_every_operation_offline(base_url: str) -> None:
    schema = httpx.get(f"{base_url}/openapi.json").json()
    operations = sum(len(_METHODS & set(item)) for item in schema["paths"].values())
    assert operations > 10
    blocked: list[str] = []
    errors: list[str] = []

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(base_url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.route("**/*", only_this_server)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/docs")
            page.locator(".opblock").first.wait_for(timeout=15_000)
            assert page.locator(".opblock").count() == operations
            assert page.locator(".opblock-summary-path", has_text="/api/ai_usage/dashboard").count() == 1
            assert page.locator(".info .title", has_text="AI Usage Monitor").count() == 1
            save_screenshot(page, "docs_offline.png")
        finally:
            browser.close()
    assert blocked == []
    assert errors == []


def test_docs_assets_come_from_the_server_and_redoc_is_off(base_url: str) -> None:
    page = httpx.get(f"{base_url}/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    assert "script-src" not in page.headers["content-security-policy"]  # 'self' via default-src
    bundle = httpx.get(f"{base_url}/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "SwaggerUIBundle" in bundle.text
    assert httpx.get(f"{base_url}/docs-assets/swagger-ui.css").status_code == 200
    assert httpx.get(f"{base_url}/redoc").status_code == 404


def test_docs_init_script_is_packaged() -> None:
    from ai_usage_monitor.api.app import STATIC_DIR

    assert Path(STATIC_DIR, "docs-init.js").is_file()
