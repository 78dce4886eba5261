"""WeCom (企业微信) group robot: a ``markdown`` message; ``errcode`` in the answer tells success."""

from __future__ import annotations

from dataclasses import dataclass

from ai_usage_monitor.notify.channel_config import WeComConfig
from ai_usage_monitor.notify.channels.http import post_json, require_zero_code
from ai_usage_monitor.notify.message import Message, clip_utf8

__all__ = ["WeComChannel"]

#: The robot refuses markdown content longer than this (errcode 40058).
_MAX_BYTES = 4096


@dataclass(frozen=True, slots=True)
class WeComChannel:
    name: str
    config: WeComConfig

    def payload(self, message: Message) -> dict[str, object]:
        return {"msgtype": "markdown", "markdown": {"content": clip_utf8(message.markdown(), _MAX_BYTES)}}

    def send(self, message: Message, timeout: float) -> None:
        _, body = post_json(self.config.url, self.payload(message), timeout)
        require_zero_code(body, ("errcode",), ("errmsg",))
