"""Feishu / Lark custom bot: an ``interactive`` card with a markdown element; signed in the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from ai_usage_monitor.notify.channel_config import FeishuConfig
from ai_usage_monitor.notify.channels.http import post_json, require_zero_code
from ai_usage_monitor.notify.message import Message

__all__ = ["FeishuChannel", "feishu_sign"]

_TEMPLATES = {"info": "blue", "warning": "orange", "critical": "red", "resolved": "green"}


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's scheme: ``"{timestamp_s}\\n{secret}"`` is the HMAC-SHA256 *key* over an empty message;
    base64 (the bot rejects timestamps more than an hour off)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class FeishuChannel:
    name: str
    config: FeishuConfig

    def payload(self, message: Message, now: float | None = None) -> dict[str, Any]:
        card: dict[str, Any] = {
            "header": {
                "title": {"tag": "plain_text", "content": message.title},
                "template": _TEMPLATES[message.severity],
            },
            "elements": [{"tag": "markdown", "content": message.markdown(heading="", link=True)}],
        }
        body: dict[str, Any] = {"msg_type": "interactive", "card": card}
        if self.config.secret is not None:
            timestamp = int(time.time() if now is None else now)
            body.update(timestamp=str(timestamp), sign=feishu_sign(self.config.secret, timestamp))
        return body

    def send(self, message: Message, timeout: float) -> None:
        _, body = post_json(self.config.url, self.payload(message), timeout)
        require_zero_code(body, ("code", "StatusCode"), ("msg", "StatusMessage"))
