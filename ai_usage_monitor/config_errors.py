"""Settings errors as one line a user can act on: what is wrong, where it was set, how to fix it.

Pydantic's multi-line dump names neither the ``AI_USAGE_*`` variable nor the TOML file and key; these
helpers find where a setting came from (keyword > environment > TOML file > default, as in ``Settings``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ai_usage_monitor.store_url import redact_url

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "SettingOrigin",
    "SettingsError",
    "config_file_error",
    "env_name",
    "setting_origin",
    "settings_error",
]

ENV_PREFIX = "AI_USAGE_"
#: The environment variable naming the TOML settings file.
CONFIG_ENV = "AI_USAGE_CONFIG"
_MAX_VALUE_CHARS = 80


class SettingsError(ValueError):
    """A setting (or the settings file) is unusable; ``str()`` is one line naming where it was set."""


@dataclass(frozen=True)
class SettingOrigin:
    """Where one setting's value came from, and how a user changes it there."""

    where: str
    fix: str


def env_name(field: str) -> str:
    """The environment variable of a settings field, e.g. ``AI_USAGE_RECORDS_DIR``."""
    return f"{ENV_PREFIX}{field.upper()}"


def _env_key(field: str) -> str | None:
    """The variable actually set for ``field`` (matched case-insensitively, as pydantic-settings does)."""
    wanted = env_name(field).lower()
    return next((key for key in os.environ if key.lower() == wanted), None)


def _toml_keys(config_file: str) -> set[str]:
    try:
        with open(config_file, "rb") as file:
            return set(tomllib.load(file))
    except (OSError, tomllib.TOMLDecodeError):
        return set()


def setting_origin(field: str, keywords: Mapping[str, str] | None = None) -> SettingOrigin:
    """Where ``field`` was set; ``keywords`` maps explicitly given fields to how they were given."""
    if keywords and field in keywords:
        label = keywords[field]
        return SettingOrigin(label, f"give another {label}")
    key = _env_key(field)
    if key is not None:
        return SettingOrigin(f"environment variable {key}", f"change {key} or unset it")
    config_file = os.environ.get(CONFIG_ENV)
    if config_file and field in _toml_keys(config_file):
        return SettingOrigin(
            f"key '{field}' in the TOML file {config_file} ({CONFIG_ENV})",
            f"correct or remove the key '{field}' in {config_file}",
        )
    return SettingOrigin(
        "the default",
        f"set {env_name(field)} (or the key '{field}' in the TOML file named by {CONFIG_ENV})",
    )


def _shown(value: Any) -> str:
    text = redact_url(repr(str(value) if isinstance(value, Path) else value))
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 4] + "...'"


def _reason(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message[:1].lower() + message[1:]


def settings_error(exc: ValidationError, keywords: Mapping[str, str] | None = None) -> SettingsError:
    """One line for every invalid field of ``exc`` (joined by ``; ``), each naming its origin."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else "settings"
        origin = setting_origin(field, keywords)
        parts.append(
            f"invalid setting {field} = {_shown(error.get('input'))} from {origin.where}: "
            f"{_reason(error)}. Fix: {origin.fix}"
        )
    return SettingsError("; ".join(parts).replace("\n", " ") or "invalid settings")


def config_file_error(config_file: str, problem: str) -> SettingsError:
    """The TOML file named by ``AI_USAGE_CONFIG`` is missing, unreadable or not valid TOML."""
    message = (
        f"the settings file {config_file!r} named by {CONFIG_ENV} {problem}. "
        f"Fix: correct the file, or point {CONFIG_ENV} at a valid TOML file, or unset it"
    )
    return SettingsError(message.replace("\n", " "))
