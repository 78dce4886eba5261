"""Notifications: named channels (DingTalk, Feishu, WeCom, Slack, webhook, e-mail, log) behind one outbox
that never blocks the caller, retries with backoff and delivers each message key once per channel.

``notify(Message(key=..., title=...), ["ops"], settings)`` is all a caller needs; see docs/operations.md.
Names are imported on first use, so the settings can read the channel models without loading the senders.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_usage_monitor.notify.channels import Channel, DeliveryError, build_channel
    from ai_usage_monitor.notify.delivery_log import AttemptRow, DeliveryLog, delivery_log_path
    from ai_usage_monitor.notify.message import Language, Message, Severity
    from ai_usage_monitor.notify.outbox import Outbox, RetryPolicy, get_outbox, notify, shutdown_outboxes

__all__ = [
    "AttemptRow",
    "Channel",
    "DeliveryError",
    "DeliveryLog",
    "Language",
    "Message",
    "Outbox",
    "RetryPolicy",
    "Severity",
    "build_channel",
    "delivery_log_path",
    "get_outbox",
    "notify",
    "shutdown_outboxes",
]

_HOMES = {
    "channels": ("Channel", "DeliveryError", "build_channel"),
    "delivery_log": ("AttemptRow", "DeliveryLog", "delivery_log_path"),
    "message": ("Language", "Message", "Severity"),
    "outbox": ("Outbox", "RetryPolicy", "get_outbox", "notify", "shutdown_outboxes"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
