"""Settings: environment, TOML file, keyword precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ai_usage_monitor.config import Settings
from ai_usage_monitor.state import resolve_settings, set_active_settings


def test_env_toml_and_keyword_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "ai_usage.toml"
    toml.write_text('records_dir = "from-toml"\ncurrency = "USD"\ntimezone = "Europe/Berlin"\n')
    monkeypatch.setenv("AI_USAGE_CONFIG", str(toml))
    monkeypatch.setenv("AI_USAGE_TIMEZONE", "Asia/Shanghai")
    settings = Settings(usd_cny_rate=7.3)
    assert settings.records_dir == Path("from-toml")  # TOML
    assert settings.timezone == "Asia/Shanghai"  # environment beats TOML
    assert settings.currency == "USD"
    assert settings.usd_cny_rate == 7.3  # keyword beats everything
    assert settings.index_path == Path("from-toml/.index")


def test_bad_values_say_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        Settings(timezone="Mars/Olympus")
    monkeypatch.setenv("AI_USAGE_CONFIG", "/nonexistent/ai_usage.toml")
    with pytest.raises(FileNotFoundError, match="not a file"):
        Settings()


def test_resolve_settings_prefers_arguments_then_instrument(tmp_path: Path) -> None:
    set_active_settings(Settings(records_dir=tmp_path / "active", timezone="Asia/Shanghai"))
    try:
        assert resolve_settings().records_dir == tmp_path / "active"
        resolved = resolve_settings(records_dir=tmp_path / "given", timezone=None)
        assert resolved.records_dir == tmp_path / "given" and resolved.timezone == "Asia/Shanghai"
    finally:
        set_active_settings(None)
