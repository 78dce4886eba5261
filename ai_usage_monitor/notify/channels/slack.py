"""Slack incoming webhook: ``text`` (the notification fallback) plus header and section blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ai_usage_monitor.notify.channel_config import SlackConfig
from ai_usage_monitor.notify.channels.http import post_json
from ai_usage_monitor.notify.message import Message

__all__ = ["SlackChannel"]


def _mrkdwn(message: Message) -> str:
    """Slack's own markup: ``*bold*`` and ``<url|label>`` instead of markdown's."""
    lines = [message.body.replace("**", "*")] if message.body else []
    lines += [f"*{label}*: {value}" for label, value in message.facts()]
    if message.link:
        lines.append(f"<{message.link}|{message.link_label}>")
    return "\n".join(lines) or message.title


@dataclass(frozen=True, slots=True)
class SlackChannel:
    name: str
    config: SlackConfig

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "text": message.text(),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(message)[:3000]}},
            ],
        }

    def send(self, message: Message, timeout: float) -> None:
        post_json(self.config.url, self.payload(message), timeout)
