"""Threshold alerts: when a counter's spend reaches ``threshold × limit``, one message to the budget's
channels per threshold, scope value and period.

The delivery log de-duplicates by key across processes and restarts; this process remembers the keys it
queued, so a counter above a threshold costs a set look-up per call, not an outbox write.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ai_usage_monitor.budgets.config import Budget, PeriodWindow

if TYPE_CHECKING:
    from ai_usage_monitor.config import Settings
    from ai_usage_monitor.notify.message import Message

__all__ = ["ThresholdAlerts", "alert_key", "dashboard_link", "linear_forecast", "threshold_message"]

#: the pace of the first minute of a period says little: the forecast waits for this much of it
_MIN_ELAPSED_S = 60.0


#: the ``threshold`` of the alert a ``block`` budget sends when it first refuses a call in a period
REFUSED = -1.0


def alert_key(budget: Budget, scope_value: str, window: PeriodWindow, threshold: float) -> str:
    """``budget:<name>:<scope value>:<period>:<threshold | refused>``: one delivery per key and channel."""
    which = "refused" if threshold == REFUSED else f"{threshold:g}"
    return f"budget:{budget.name}:{scope_value}:{window.label}:{which}"


def linear_forecast(spent: float, window: PeriodWindow, now: float) -> float | None:
    """The period's spend at its end if the pace so far goes on (``None`` in its first minute)."""
    elapsed = now - window.start
    if elapsed < _MIN_ELAPSED_S:
        return None
    return spent * (window.end - window.start) / min(elapsed, window.end - window.start)


def dashboard_link(settings: Settings) -> str:
    """``dashboard_url``, else the server's own address."""
    if settings.dashboard_url:
        return settings.dashboard_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}/"


def threshold_message(
    settings: Settings,
    *,
    budget: Budget,
    scope_value: str,
    window: PeriodWindow,
    threshold: float,
    spent: float,
    now: float,
) -> Message:
    """The alert of one crossed threshold (``REFUSED``: the first refused call), in the configured
    language."""
    from ai_usage_monitor.notify.message import Message

    percent = f"{threshold * 100:g}%"
    refusing = threshold >= 1 and budget.action == "block"
    scope = f" ({scope_value})" if scope_value else ""
    zh = settings.notify_language == "zh"
    if threshold == REFUSED:
        title = (
            f"预算「{budget.name}」{scope}开始拒绝调用"
            if zh
            else f"Budget '{budget.name}'{scope} refuses calls"
        )
        body = (
            "剩余额度不足以支付下一次调用的最坏成本，调用被拒绝。"
            if zh
            else "What is left of the limit cannot pay for a call's worst case: calls are refused."
        )
    elif zh:
        title = f"预算「{budget.name}」{scope}已用 {percent}"
        body = "已达到额度，调用将被拒绝。" if refusing else ""
    else:
        title = f"Budget '{budget.name}'{scope} reached {percent} of its limit"
        body = "The limit is reached: calls are refused." if refusing else ""
    return Message(
        key=alert_key(budget, scope_value, window, threshold),
        title=title,
        body=body,
        language=settings.notify_language,
        severity="critical" if threshold >= 1 or threshold == REFUSED else "warning",
        budget=budget.name,
        scope_value=scope_value or None,
        spent=spent,
        limit=budget.limit,
        currency=settings.currency,
        period=window.label,
        forecast=linear_forecast(spent, window, now),
        link=dashboard_link(settings),
    )


class ThresholdAlerts:
    """Queues the alert of every threshold a counter's spend has reached (once per key in a process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: (budget, scope value, period label, threshold) of the alerts this process queued
        self._queued: set[tuple[str, str, str, float]] = set()
        self._lock = threading.Lock()

    def check(self, budget: Budget, scope_value: str, window: PeriodWindow, spent: float | None) -> None:
        """Alert the thresholds ``spent`` reached; cheap when none is new."""
        if spent is None or spent <= 0 or not budget.channels:
            return
        for threshold in budget.thresholds:  # sorted ascending
            if spent < threshold * budget.limit:
                return
            self._send(budget, scope_value, window, threshold, spent)

    def refused(self, budget: Budget, scope_value: str, window: PeriodWindow, spent: float) -> None:
        """Alert the first call a ``block`` budget refuses in a period: a refusal comes while the spend is
        still below the limit (by less than a call's worst case), before the 100% threshold is reached."""
        if budget.channels:
            self._send(budget, scope_value, window, REFUSED, spent)

    def _send(
        self, budget: Budget, scope_value: str, window: PeriodWindow, threshold: float, spent: float
    ) -> None:
        key = (budget.name, scope_value, window.label, threshold)  # alert_key's parts, unformatted
        if key in self._queued:
            return
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
        message = threshold_message(
            self.settings,
            budget=budget,
            scope_value=scope_value,
            window=window,
            threshold=threshold,
            spent=spent,
            now=time.time(),
        )
        _notify(message, budget.channels, self.settings)


def _notify(message: Message, channels: tuple[str, ...], settings: Settings) -> None:
    from ai_usage_monitor.notify.outbox import notify

    notify(message, channels, settings)
