"""The settings of the last ``instrument()`` call in this process, for readers that come later."""

from __future__ import annotations

from ai_usage_monitor.config import Settings

__all__ = ["active_settings", "resolve_settings", "set_active_settings"]

_active: Settings | None = None


def set_active_settings(settings: Settings | None) -> None:
    global _active
    _active = settings


def active_settings() -> Settings | None:
    """The settings ``instrument()`` was last called with, or ``None``."""
    return _active


def resolve_settings(**overrides: object) -> Settings:
    """Explicit arguments (``None`` ignored), else the last ``instrument()``'s, else env/TOML/defaults."""
    given = {k: v for k, v in overrides.items() if v is not None}
    base = _active if _active is not None else Settings()
    if not given:
        return base
    return Settings(**{**base.model_dump(exclude_unset=False), **given})
