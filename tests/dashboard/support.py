"""Helpers for the browser tests: Debian's Chromium, the page's path, screenshots kept as artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

__all__ = [
    "ARTIFACTS",
    "CHROMIUM_ARGS",
    "PAGE",
    "approx_equal",
    "launch_chromium",
    "save_screenshot",
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE = "/static/ai_usage_monitor.html"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; Playwright never downloads a browser of its own here."""
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact (``test-artifacts/<name>``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def approx_equal(a: Any, b: Any) -> bool:
    """Numbers equal up to float noise (the page reads them back from text attributes)."""
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
