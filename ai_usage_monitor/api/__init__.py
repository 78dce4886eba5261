"""The REST API, ``/metrics`` and the dashboard page: a standalone app or a router for the user's app."""

from __future__ import annotations

from ai_usage_monitor.api.app import API_PREFIX, create_app, create_router, mount
from ai_usage_monitor.api.guard import add_web_guard

__all__ = ["API_PREFIX", "add_web_guard", "create_app", "create_router", "mount"]
