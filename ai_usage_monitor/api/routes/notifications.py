"""``/notifications``: the outbox's delivery history; and the forwarding of Alertmanager alerts to chat."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from ai_usage_monitor.api.deps import STORE_STATE_KEY, SettingsDep
from ai_usage_monitor.api.schemas import NotificationAttempt, NotificationList
from ai_usage_monitor.config import Settings
from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.notify import delivery_log_path, get_outbox, notify
from ai_usage_monitor.notify.alertmanager import alert_group_message

if TYPE_CHECKING:
    from ai_usage_monitor.api.routes.alerts import WebhookPayload

__all__ = ["forward_alerts", "router", "start_outbox"]

router = APIRouter(tags=["notifications"])


@router.get(
    "/notifications", response_model=NotificationList, summary="Notification delivery attempts, newest first"
)
async def list_notifications(
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many attempts")] = 100,
) -> NotificationList:
    if not delivery_log_path(settings.records_dir).exists():  # nothing was ever sent: create nothing
        return NotificationList(count=0, notifications=[])
    rows = await run_in_threadpool(get_outbox(settings).log.attempts, limit)
    items = [NotificationAttempt.model_validate(asdict(row)) for row in rows]
    return NotificationList(count=len(items), notifications=items)


def start_outbox(settings: Settings) -> None:
    """With channels configured, start the outbox worker with the server: it sends what others left."""
    if settings.channels:
        try:
            get_outbox(settings).start()
        except Exception as exc:
            handle_internal_error("notify.start", exc)


def forward_alerts(request: Request, payload: WebhookPayload) -> None:
    """Queue ``payload`` for the app's ``alert_channels`` (a no-op without a store or such channels)."""
    store = getattr(request.state, STORE_STATE_KEY, None)
    settings = getattr(store, "settings", None)
    if settings is None or not settings.alert_channels or not payload.alerts:
        return
    try:
        notify(alert_group_message(payload, settings.notify_language), settings.alert_channels, settings)
    except Exception as exc:
        handle_internal_error("notify.alerts", exc)
