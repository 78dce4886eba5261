"""Notifications: named channels (DingTalk, Feishu, WeCom, Slack, webhook, e-mail, log) behind one outbox
that never blocks the caller, retries with backoff and delivers each message key once per channel.

``notify(Message(key=..., title=...), ["ops"])`` is all a caller needs; see docs/operations.md.
"""

from __future__ import annotations

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
