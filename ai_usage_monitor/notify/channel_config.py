"""The ``[channels.<name>]`` tables of the settings: one model per channel type, checked at start.

A bad channel fails with one line naming the channel and the field, never echoing URLs or secrets
(a robot's URL carries its access token).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "CHANNEL_TYPES",
    "ChannelConfig",
    "DingTalkConfig",
    "EmailConfig",
    "FeishuConfig",
    "LogConfig",
    "SlackConfig",
    "WeComConfig",
    "WebhookConfig",
    "validate_channels",
]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class _UrlChannel(_Channel):
    url: str

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)


class _SignedChannel(_UrlChannel):
    #: The robot's signing secret; unset when the robot does not sign.
    secret: str | None = Field(default=None, repr=False)

    @field_validator("secret")
    @classmethod
    def _usable_secret(cls, value: str | None) -> str | None:
        if value is not None and (not value or value != value.strip() or any(c.isspace() for c in value)):
            raise ValueError("must be a non-empty string without spaces")
        return value


class DingTalkConfig(_SignedChannel):
    """DingTalk custom robot; ``secret`` is the "加签" secret shown on the robot's page (``SEC…``)."""

    type: Literal["dingtalk"]

    @field_validator("secret")
    @classmethod
    def _dingtalk_secret(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("SEC"):
            raise ValueError("a DingTalk signing secret starts with 'SEC'")
        return value


class FeishuConfig(_SignedChannel):
    """Feishu / Lark custom bot; ``secret`` is its signature-verification secret."""

    type: Literal["feishu"]


class WeComConfig(_UrlChannel):
    """WeCom (企业微信) group robot."""

    type: Literal["wecom"]


class SlackConfig(_UrlChannel):
    """Slack incoming webhook."""

    type: Literal["slack"]


class WebhookConfig(_UrlChannel):
    """Any HTTP endpoint taking the message as JSON; ``headers`` are added (e.g. an Authorization)."""

    type: Literal["webhook"]
    headers: dict[str, str] = Field(default_factory=dict, repr=False)


class EmailConfig(_Channel):
    """E-mail over SMTP: STARTTLS on the submission port by default, ``ssl`` for implicit TLS (465)."""

    type: Literal["email"]
    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    starttls: bool = True
    ssl: bool = False

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


class LogConfig(_Channel):
    """The monitor's logger (``ai_usage_monitor.notify``) at ``level``."""

    type: Literal["log"]
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"


ChannelConfig = Annotated[
    DingTalkConfig | FeishuConfig | WeComConfig | SlackConfig | WebhookConfig | EmailConfig | LogConfig,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("dingtalk", "feishu", "wecom", "slack", "webhook", "email", "log")


@cache
def _adapter() -> TypeAdapter[ChannelConfig]:
    return TypeAdapter(ChannelConfig)


def _problem(name: str, error: Any) -> str:
    loc = [str(part) for part in error["loc"]]
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return f"channel {name!r}, field 'type': must be one of {', '.join(CHANNEL_TYPES)}"
    fields = ".".join(loc[1:]) if len(loc) > 1 else "type"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"not a setting of a {loc[0]} channel"
    return f"channel {name!r}, field {fields!r}: {message[:1].lower()}{message[1:]}"


def validate_channels(value: Any) -> dict[str, Any]:
    """The channel tables as models; on error a ``ValidationError`` whose input is only the channel name."""
    if not isinstance(value, dict):
        raise ValueError("must be a table of named channels, e.g. [channels.ops]")
    channels: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, table in value.items():
        if not str(name).strip():
            problems.append((str(name), "a channel needs a non-empty name"))
            continue
        if isinstance(table, BaseModel):
            channels[name] = table
            continue
        try:
            channels[name] = _adapter().validate_python(table)
        except ValidationError as exc:
            problems += [(name, _problem(name, error)) for error in exc.errors()]
    if problems:
        details = [
            InitErrorDetails(
                type=PydanticCustomError("channel", text.replace("{", "{{").replace("}", "}}")),
                loc=(),
                input=f"[channels.{name}]",
            )
            for name, text in problems
        ]
        raise ValidationError.from_exception_data("channels", details)
    return channels
