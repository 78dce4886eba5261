"""Settings: environment, TOML file, keyword precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import ai_usage_monitor
from ai_usage_monitor.config import Settings, SettingsError
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
    with pytest.raises(SettingsError, match="unknown time zone 'Mars/Olympus'"):
        Settings(timezone="Mars/Olympus")
    monkeypatch.setenv("AI_USAGE_CONFIG", "/nonexistent/ai_usage.toml")
    with pytest.raises(SettingsError, match="named by AI_USAGE_CONFIG is not a file"):
        Settings()


def one_line(exc: pytest.ExceptionInfo[SettingsError], *names: str) -> str:
    """The error's message, checked to be one line naming each of ``names``, with no pydantic dump."""
    message = str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert "\n" not in message and "errors.pydantic.dev" not in message and "Fix:" in message
    for name in names:
        assert name in message, (name, message)
    return message


def test_instrument_names_the_bad_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_USAGE_USD_CNY_RATE", "-3")
    with pytest.raises(SettingsError) as exc:
        ai_usage_monitor.instrument()
    assert "greater than 0" in one_line(exc, "AI_USAGE_USD_CNY_RATE", "'-3'")


def test_instrument_names_the_bad_keyword() -> None:
    with pytest.raises(SettingsError) as exc:
        ai_usage_monitor.instrument(fsync="sometimes")
    one_line(exc, "fsync=", "'sometimes'", "'none' or 'always'")


def test_get_usage_monitor_names_the_toml_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "ai_usage.toml"
    toml.write_text('currency = "EUR"\n')
    monkeypatch.setenv("AI_USAGE_CONFIG", str(toml))
    monkeypatch.delenv("AI_USAGE_CURRENCY", raising=False)
    with pytest.raises(SettingsError) as exc:
        ai_usage_monitor.get_usage_monitor(records_dir=tmp_path)
    one_line(exc, str(toml), "'currency'", "'EUR'")


def test_broken_toml_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "ai_usage.toml"
    toml.write_text("records_dir = [unclosed\n")
    monkeypatch.setenv("AI_USAGE_CONFIG", str(toml))
    with pytest.raises(SettingsError) as exc:
        ai_usage_monitor.instrument()
    assert "not valid TOML" in one_line(exc, str(toml), "AI_USAGE_CONFIG")


def test_resolve_settings_prefers_arguments_then_instrument(tmp_path: Path) -> None:
    set_active_settings(Settings(records_dir=tmp_path / "active", timezone="Asia/Shanghai"))
    try:
        assert resolve_settings().records_dir == tmp_path / "active"
        resolved = resolve_settings(records_dir=tmp_path / "given", timezone=None)
        assert resolved.records_dir == tmp_path / "given" and resolved.timezone == "Asia/Shanghai"
    finally:
        set_active_settings(None)
