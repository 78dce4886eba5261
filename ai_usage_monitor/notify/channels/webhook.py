"""Generic JSON webhook: the message's fields as JSON, plus its rendered markdown and text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ai_usage_monitor.notify.channel_config import WebhookConfig
from ai_usage_monitor.notify.channels.http import post_json
from ai_usage_monitor.notify.message import Message

__all__ = ["WebhookChannel"]


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    name: str
    config: WebhookConfig

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "channel": self.name,
            **message.to_dict(),
            "markdown": message.markdown(),
            "text": message.text(),
        }

    def send(self, message: Message, timeout: float) -> None:
        post_json(self.config.url, self.payload(message), timeout, self.config.headers)
