"""Alertmanager notifications as messages: one per alert group and status, keyed so repeats are not resent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ai_usage_monitor.notify.message import Language, Message, Severity

if TYPE_CHECKING:
    from ai_usage_monitor.api.routes.alerts import WebhookPayload

__all__ = ["alert_group_key", "alert_group_message"]

_STATUS = {
    "zh": {"firing": "告警", "resolved": "已恢复"},
    "en": {"firing": "FIRING", "resolved": "RESOLVED"},
}
_ALERTS = {"zh": "条告警", "en": "alert(s)"}


def alert_group_key(payload: WebhookPayload) -> str:
    """Group key + status + the latest ``startsAt``: Alertmanager's repeats of a group map to one key,
    a new alert joining the group or the group resolving makes a new one."""
    latest = max((alert.starts_at for alert in payload.alerts), default=None)
    started = latest.isoformat() if latest is not None else ""
    group = payload.group_key or ",".join(f"{k}={v}" for k, v in sorted(payload.group_labels.items()))
    return f"alertmanager:{group}:{payload.status}:{started}"


def alert_group_message(payload: WebhookPayload, language: Language) -> Message:
    """The group's alerts as one message: a line per alert, the common labels as facts."""
    name = payload.group_labels.get("alertname") or payload.common_labels.get("alertname") or "alert"
    title = f"[{_STATUS[language][payload.status]}] {name} ({len(payload.alerts)} {_ALERTS[language]})"
    lines = []
    for alert in payload.alerts:
        summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
        level = alert.labels.get("severity")
        label = alert.labels.get("alertname", name)
        lines.append(f"- **{label}**{f' ({level})' if level else ''}: {summary}".rstrip(": "))
    severity: Severity = "resolved"
    if payload.status == "firing":
        critical = any(alert.labels.get("severity") == "critical" for alert in payload.alerts)
        severity = "critical" if critical else "warning"
    link = next((alert.generator_url for alert in payload.alerts if alert.generator_url), "")
    return Message(
        key=alert_group_key(payload),
        title=title,
        body="\n".join(lines),
        language=language,
        severity=severity,
        link=link or payload.external_url or None,
        extra=dict(sorted(payload.common_labels.items())),
    )
