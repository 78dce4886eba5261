"""One settings object for the project: keyword > environment (``AI_USAGE_*``) > TOML file > defaults."""

from __future__ import annotations

import contextlib
import os
import tomllib
from datetime import tzinfo
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ai_usage_monitor.budgets.config import Budget, check_budget_channels, parse_budgets
from ai_usage_monitor.config_errors import CONFIG_ENV, SettingsError, config_file_error, settings_error
from ai_usage_monitor.notify.channel_config import ChannelConfig, validate_channels
from ai_usage_monitor.store_url import parse_store_url

__all__ = [
    "DEFAULT_USD_CNY_RATE",
    "MIN_INDEX_RETENTION_DAYS",
    "USD_CNY_RATE_DATE",
    "Settings",
    "SettingsError",
    "system_timezone_name",
]

#: USD→CNY conversion used when none is configured (PBoC central parity, rounded).
DEFAULT_USD_CNY_RATE = 7.10
USD_CNY_RATE_DATE = "2025-10-31"
#: The least non-zero ``index_retention_days``: today and the 30 days before it cover any current month.
MIN_INDEX_RETENTION_DAYS = 31


def system_timezone_name() -> str:
    """The IANA name of the machine's time zone, or ``UTC`` when it cannot be told."""
    tz_env = os.environ.get("TZ", "").lstrip(":")
    candidates = [tz_env] if tz_env else []
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"


class Settings(BaseSettings):
    """Every knob of the monitor; ``AI_USAGE_CONFIG`` may name a TOML file holding any of them."""

    model_config = SettingsConfigDict(env_prefix="AI_USAGE_", extra="ignore", frozen=False)

    records_dir: Path = Path("records/ai_usage")
    timezone: str = Field(default_factory=system_timezone_name)
    currency: Literal["CNY", "USD"] = "CNY"
    usd_cny_rate: float = Field(default=DEFAULT_USD_CNY_RATE, gt=0)
    pricing_file: Path | None = None
    stream_usage: bool = True
    capture_content: bool = False
    #: ``none``: each line is handed to the OS before the call returns (survives a process crash);
    #: ``always``: also fsync'd (survives a power cut, costs a disk flush per record).
    fsync: Literal["none", "always"] = "none"
    #: Re-raise the monitor's own internal errors instead of logging them (the project's tests set it).
    raise_internal_errors: bool = False
    #: Extra OpenAI-client base-URL hosts and the provider each means, e.g. ``{"llm.corp.example": "qwen"}``
    #: (env ``AI_USAGE_PROVIDER_HOSTS`` as JSON, a ``[provider_hosts]`` TOML table); see pricing/README.md.
    provider_hosts: dict[str, str] = Field(default_factory=dict)
    #: The app's name in its records (``service``); unset: OpenTelemetry's ``service.name``, else the
    #: script's name (docs/architecture.md §4).
    service: str | None = None

    # server
    host: str = "127.0.0.1"
    port: int = Field(default=10090, ge=1, le=65535)
    api_token: str | None = None
    #: Where the store keeps its index; default ``<records_dir>/.index``.
    index_dir: Path | None = None
    #: Where reports are written and served from; default ``<records_dir>/reports``.
    reports_dir: Path | None = None
    #: Seconds between two looks for new record lines.
    tail_interval: float = Field(default=0.25, gt=0, le=60)
    #: Where queries are answered: empty = the local DuckDB index over ``records_dir``; or
    #: ``clickhouse://USER:PASSWORD@HOST:PORT/DATABASE`` (PORT: native TCP) for records shipped there.
    store: str | None = None

    # retention (docs/operations.md, "Retention")
    #: Day files of days more than this many days before today are gzipped (``usage_<day>.jsonl.gz``);
    #: 0: never.
    retention_days: int = Field(default=0, ge=0)
    #: Index rows of days more than this many days before today are dropped from the index (ClickHouse: a
    #: TTL, or whole months dropped on servers without TTLs); 0: keep all.
    index_retention_days: int = Field(default=0, ge=0)
    #: Seconds between two retention passes of a running server (one also runs at its start).
    retention_interval: float = Field(default=3600.0, gt=0)

    # /metrics
    metrics_user_labels: bool = False
    metrics_anchor_labels: bool = False
    metrics_label_top_n: int = Field(default=20, ge=1, le=1000)

    #: Also put the proposed ``gen_ai.usage.cost.amount`` / ``.currency`` / ``.source`` on spans beside
    #: ``ai_usage.cost`` (semantic-conventions-genai PR #443; off until the proposal is merged).
    otel_cost_attributes: bool = False

    # web security: body size, Host check
    #: Largest request body accepted, in bytes (larger ones get 413, also when sent chunked).
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    #: Host names the server answers to besides loopback, ``host`` and its own address; ``*`` allows any.
    #: Comma-separated in ``AI_USAGE_ALLOWED_HOSTS``; ``.example.com`` allows every subdomain.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # notifications (docs/operations.md, "Notifications")
    #: Named channels: ``[channels.<name>]`` tables with ``type`` dingtalk | feishu | wecom | slack |
    #: webhook | email | log and that type's fields.
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    #: The channels Alertmanager alerts received at ``/api/ai_usage/alerts/webhook`` are forwarded to.
    alert_channels: list[str] = Field(default_factory=list)
    #: The language of the monitor's messages.
    notify_language: Literal["zh", "en"] = "zh"
    #: Seconds one delivery attempt may take.
    notify_timeout: float = Field(default=10.0, gt=0, le=120)
    #: Attempts per message and channel before it is given up (the n-th retry waits delay × 2^(n-1)).
    notify_max_attempts: int = Field(default=6, ge=1, le=50)
    notify_retry_delay: float = Field(default=2.0, gt=0, le=3600)
    #: At process exit, seconds to wait for due messages; the rest is sent by the next process.
    notify_exit_wait: float = Field(default=2.0, ge=0, le=60)
    #: The dashboard link in budget alerts; default ``http://<host>:<port>/``.
    dashboard_url: str | None = None

    def __init__(self, **values: Any) -> None:
        """As ``BaseSettings``, but a bad value raises one ``SettingsError`` line naming where it was set."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            keywords = {name: f"keyword argument {name}=" for name in values}
            raise settings_error(exc, keywords) from None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name like 'Asia/Shanghai'") from exc
        return value

    @field_validator("provider_hosts")
    @classmethod
    def _known_hosts(cls, value: dict[str, str]) -> dict[str, str]:
        hosts: dict[str, str] = {}
        for key, provider in value.items():
            host = (urlsplit(key).hostname or "") if "://" in key else key.strip().lower().rstrip(".")
            if not host or not provider.strip():
                raise ValueError(
                    f"provider_hosts: expected a host name and a provider name, got {key!r}: {provider!r}"
                )
            hosts[host] = provider.strip()
        return hosts

    @field_validator("index_retention_days")
    @classmethod
    def _whole_month_kept(cls, value: int) -> int:
        if 0 < value < MIN_INDEX_RETENTION_DAYS:
            raise ValueError(
                f"expected 0 (keep every row) or at least {MIN_INDEX_RETENTION_DAYS} days, so that the "
                f"current month and the 30-day views stay complete, got {value}"
            )
        return value

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_store_url(value)
        return value.strip()

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            if not Path(config_file).is_file():
                raise config_file_error(config_file, "is not a file")
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            except tomllib.TOMLDecodeError as exc:
                raise config_file_error(config_file, f"is not valid TOML ({exc})") from None
            except OSError as exc:
                raise config_file_error(config_file, f"cannot be read ({exc.strerror})") from None
        return tuple(sources)

    @cached_property
    def tz(self) -> tzinfo:
        """The configured time zone as a ``tzinfo``."""
        return ZoneInfo(self.timezone)

    @property
    def index_path(self) -> Path:
        return self.index_dir if self.index_dir is not None else self.records_dir / ".index"

    @property
    def reports_path(self) -> Path:
        return self.reports_dir if self.reports_dir is not None else self.records_dir / "reports"

    @field_validator("channels", mode="before")
    @classmethod
    def _valid_channels(cls, value: Any) -> dict[str, Any]:
        return validate_channels(value)

    @field_validator("alert_channels")
    @classmethod
    def _known_alert_channels(cls, value: list[str], info: ValidationInfo) -> list[str]:
        configured = info.data.get("channels")
        if configured is None:  # the channels themselves are invalid; that error is reported
            return value
        unknown = [name for name in value if name not in configured]
        if unknown:
            raise ValueError(
                f"no channel named {', '.join(map(repr, unknown))}; configured: {sorted(configured)}"
            )
        return value

    # budgets (docs/budgets.md)
    #: the ``[[budgets]]`` tables of the TOML file; a bad one is refused with one line naming it and the field
    budgets: list[Budget] = Field(default_factory=list)
    #: where budget spend is shared: none = a file under ``<records_dir>/.budgets/`` (every process of the
    #: host); ``redis://host:port/db`` to share it between hosts
    budget_store: str | None = None
    #: seconds after which a reservation its process never settled (it died) stops holding budget
    budget_lease_seconds: float = Field(default=900.0, gt=0)
    #: above 0: each process reserves this fraction of a budget's limit at a time and serves its calls from
    #: it in memory (a few µs a call instead of a shared transaction; see docs/budgets.md for what it costs)
    budget_slice: float = Field(default=0.0, ge=0, lt=1)

    @field_validator("budgets", mode="before")
    @classmethod
    def _valid_budgets(cls, value: Any, info: ValidationInfo) -> list[Budget]:
        budgets = parse_budgets(value)
        if "channels" in info.data:  # declared before this field; absent when it was itself invalid
            check_budget_channels(budgets, info.data["channels"])
        return budgets

    @field_validator("budget_store")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("expected a redis://, rediss:// or unix:// URL (or nothing for the local file)")
        return value or None

    # digest (docs/operations.md, "Digest")
    #: channels the daily (and weekly) digest goes to; none: no digest is sent
    digest_channels: list[str] = Field(default_factory=list)
    #: local time (``HH:MM``, in ``timezone``) from which the day's digest is sent
    digest_time: str = "09:00"
    #: the weekday the weekly digest is sent on (with that day's daily one), or ``never``
    digest_weekly_day: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "never"
    ] = "monday"
    #: the digest's language; unset: ``notify_language``
    digest_language: Literal["zh", "en"] | None = None

    @field_validator("digest_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, sep, minutes = value.strip().partition(":")
        if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
            raise ValueError(f"expected a local time as HH:MM (e.g. '09:00'), got {value!r}")
        if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
            raise ValueError(f"expected a local time as HH:MM (e.g. '09:00'), got {value!r}")
        return f"{int(hours):02d}:{minutes}"

    @field_validator("digest_weekly_day", "digest_language", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("digest_channels")
    @classmethod
    def _known_digest_channels(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return cls._known_alert_channels(value, info)
