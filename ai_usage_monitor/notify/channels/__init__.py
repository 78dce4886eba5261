"""The channels a message can go to, one module per service, built from their ``[channels.*]`` tables."""

from __future__ import annotations

from typing import Any

from ai_usage_monitor.notify.channel_config import (
    DingTalkConfig,
    EmailConfig,
    FeishuConfig,
    LogConfig,
    SlackConfig,
    WebhookConfig,
    WeComConfig,
)
from ai_usage_monitor.notify.channels.base import Channel, DeliveryError
from ai_usage_monitor.notify.channels.dingtalk import DingTalkChannel
from ai_usage_monitor.notify.channels.email import EmailChannel
from ai_usage_monitor.notify.channels.feishu import FeishuChannel
from ai_usage_monitor.notify.channels.log import LogChannel
from ai_usage_monitor.notify.channels.slack import SlackChannel
from ai_usage_monitor.notify.channels.webhook import WebhookChannel
from ai_usage_monitor.notify.channels.wecom import WeComChannel

__all__ = ["Channel", "DeliveryError", "build_channel"]

_BUILDERS: dict[type, Any] = {
    DingTalkConfig: DingTalkChannel,
    FeishuConfig: FeishuChannel,
    WeComConfig: WeComChannel,
    SlackConfig: SlackChannel,
    WebhookConfig: WebhookChannel,
    EmailConfig: EmailChannel,
    LogConfig: LogChannel,
}


def build_channel(name: str, config: object) -> Channel:
    """The channel for one validated ``[channels.<name>]`` table."""
    channel: Channel = _BUILDERS[type(config)](name, config)
    return channel
