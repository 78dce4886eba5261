"""The log channel: the message as one log record of the ``ai_usage_monitor.notify`` logger."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ai_usage_monitor.notify.channel_config import LogConfig
from ai_usage_monitor.notify.message import Message

__all__ = ["LogChannel"]

logger = logging.getLogger("ai_usage_monitor.notify")


@dataclass(frozen=True, slots=True)
class LogChannel:
    name: str
    config: LogConfig

    def send(self, message: Message, timeout: float) -> None:
        logger.log(logging.getLevelNamesMapping()[self.config.level], "[%s] %s", self.name, message.text())
