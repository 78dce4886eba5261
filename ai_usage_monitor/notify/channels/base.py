"""What every channel is: a name and ``send(message, timeout)``, which raises ``DeliveryError`` on failure."""

from __future__ import annotations

from typing import Protocol

from ai_usage_monitor.notify.message import Message

__all__ = ["Channel", "DeliveryError"]


class DeliveryError(Exception):
    """A delivery attempt failed; ``str()`` says why, with the receiver's own error when it gave one."""


class Channel(Protocol):
    name: str

    def send(self, message: Message, timeout: float) -> None:
        """Deliver ``message`` within about ``timeout`` seconds, or raise ``DeliveryError``."""
        ...
