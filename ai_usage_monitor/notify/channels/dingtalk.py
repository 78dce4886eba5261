"""DingTalk custom robot: a ``markdown`` message; signed (加签) in the URL when a secret is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote_plus

from ai_usage_monitor.notify.channel_config import DingTalkConfig
from ai_usage_monitor.notify.channels.http import post_json, require_zero_code
from ai_usage_monitor.notify.message import Message

__all__ = ["DingTalkChannel", "dingtalk_sign"]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's scheme: HMAC-SHA256 keyed by the secret over ``"{timestamp_ms}\\n{secret}"``, base64,
    URL-encoded (the robot rejects timestamps more than an hour off)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


@dataclass(frozen=True, slots=True)
class DingTalkChannel:
    name: str
    config: DingTalkConfig

    def payload(self, message: Message) -> dict[str, object]:
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": message.markdown()}}

    def signed_url(self, now: float | None = None) -> str:
        url = self.config.url
        if self.config.secret is None:
            return url
        timestamp = round((time.time() if now is None else now) * 1000)
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}timestamp={timestamp}&sign={dingtalk_sign(self.config.secret, timestamp)}"

    def send(self, message: Message, timeout: float) -> None:
        _, body = post_json(self.signed_url(), self.payload(message), timeout)
        require_zero_code(body, ("errcode",), ("errmsg",))
