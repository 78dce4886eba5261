"""The REST API, ``/metrics`` and the dashboard page: a standalone app or a router for the user's app."""

from __future__ import annotations

from ai_usage_monitor.api.app import API_PREFIX, create_app, create_router, mount

__all__ = ["API_PREFIX", "create_app", "create_router", "mount"]
