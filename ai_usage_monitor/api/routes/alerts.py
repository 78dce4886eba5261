"""Alertmanager webhook receiver, so the monitor can show its alerts: the last N distinct alerts kept in
memory (one entry per fingerprint and start time, updated by repeats and resolution), listed newest first.

What is kept is bounded twice: each text cut to a sane length and label set to a sane count, and all kept
alerts together to ``DEFAULT_MAX_ALERT_CHARS`` characters (oldest dropped first)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ai_usage_monitor.api.routes.notifications import forward_alerts
from ai_usage_monitor.bounds import cut

__all__ = [
    "DEFAULT_MAX_ALERTS",
    "DEFAULT_MAX_ALERT_CHARS",
    "MAX_ALERTS_PER_NOTIFICATION",
    "MAX_ALERT_LABELS",
    "MAX_ALERT_TEXT",
    "AlertList",
    "AlertLog",
    "ReceivedAlert",
    "WebhookAck",
    "WebhookAlert",
    "WebhookPayload",
    "get_alert_log",
    "router",
]

#: How many distinct alerts the monitor remembers (oldest dropped first).
DEFAULT_MAX_ALERTS = 200

#: How many characters all remembered alerts may hold together (their texts summed).
DEFAULT_MAX_ALERT_CHARS = 4_000_000

#: A label or annotation value, URL or fingerprint longer than this is cut (marked with "…").
MAX_ALERT_TEXT = 2048

#: Labels (and annotations) kept per alert, in name order.
MAX_ALERT_LABELS = 64

#: More alerts in one notification than this is refused (Alertmanager's ``max_alerts`` can cap it).
MAX_ALERTS_PER_NOTIFICATION = 1000

AlertStatus = Literal["firing", "resolved"]

#: Alertmanager's "not ended yet" time (Go's zero time) and anything before the epoch mean "no end".
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class WebhookAlert(_Camel):
    """One alert of an Alertmanager webhook notification (payload version 4)."""

    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class WebhookPayload(_Camel):
    """The JSON body Alertmanager's ``webhook_configs`` receiver posts."""

    version: str = "4"
    group_key: str = ""
    truncated_alerts: int = 0
    status: AlertStatus
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict)
    common_labels: dict[str, str] = Field(default_factory=dict)
    common_annotations: dict[str, str] = Field(default_factory=dict)
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert] = Field(max_length=MAX_ALERTS_PER_NOTIFICATION)


class ReceivedAlert(BaseModel):
    """An alert as the monitor remembers it."""

    alertname: str
    status: AlertStatus
    severity: str | None
    summary: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str
    receiver: str
    group_key: str
    first_received_at: float = Field(description="Unix seconds of the first notification of this alert")
    last_received_at: float = Field(description="Unix seconds of the latest notification of this alert")
    notifications: int = Field(description="How many notifications carried this alert")


class WebhookAck(BaseModel):
    received: int
    stored: int


class AlertList(BaseModel):
    count: int
    firing: int
    alerts: list[ReceivedAlert]


def _cut(text: str) -> str:
    return cut(text, MAX_ALERT_TEXT)


def _bounded(pairs: dict[str, str]) -> dict[str, str]:
    """At most ``MAX_ALERT_LABELS`` pairs (by name), names and values cut to ``MAX_ALERT_TEXT``."""
    return {_cut(k): _cut(v) for k, v in sorted(pairs.items())[:MAX_ALERT_LABELS]}


def _alert_key(fingerprint: str, labels: dict[str, str], starts_at: datetime) -> str:
    identity = fingerprint or "|".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return f"{_cut(identity)}@{starts_at.isoformat()}"


def _chars(alert: ReceivedAlert) -> int:
    """The characters an alert holds, the measure of the log's memory budget."""
    texts = (*alert.labels.items(), *alert.annotations.items())
    singles = (alert.generator_url, alert.fingerprint, alert.receiver, alert.group_key)
    return sum(len(k) + len(v) for k, v in texts) + sum(len(text) for text in singles)


def _real_end(ends_at: datetime | None) -> datetime | None:
    if ends_at is None:
        return None
    aware = ends_at if ends_at.tzinfo is not None else ends_at.replace(tzinfo=UTC)
    return aware if aware > _EPOCH else None


class AlertLog:
    """The last ``maxlen`` distinct alerts holding at most ``max_chars`` characters, safe to share between
    threads."""

    def __init__(self, maxlen: int = DEFAULT_MAX_ALERTS, max_chars: int = DEFAULT_MAX_ALERT_CHARS) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.maxlen = maxlen
        self.max_chars = max_chars
        self._alerts: OrderedDict[str, ReceivedAlert] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    @property
    def chars(self) -> int:
        """The characters all kept alerts hold now."""
        with self._lock:
            return self._chars

    def add(self, payload: WebhookPayload, now: float | None = None) -> int:
        """Remember every alert of ``payload``; returns how many alerts are kept now."""
        received_at = time.time() if now is None else now
        with self._lock:
            for alert in payload.alerts:
                labels, annotations = _bounded(alert.labels), _bounded(alert.annotations)
                fingerprint = _cut(alert.fingerprint)
                key = _alert_key(fingerprint, labels, alert.starts_at)
                previous = self._alerts.pop(key, None)
                if previous is not None:
                    self._chars -= _chars(previous)
                kept = ReceivedAlert(
                    alertname=labels.get("alertname", ""),
                    status=alert.status,
                    severity=labels.get("severity"),
                    summary=annotations.get("summary"),
                    labels=labels,
                    annotations=annotations,
                    starts_at=alert.starts_at,
                    ends_at=_real_end(alert.ends_at),
                    generator_url=_cut(alert.generator_url),
                    fingerprint=fingerprint,
                    receiver=_cut(payload.receiver),
                    group_key=_cut(payload.group_key),
                    first_received_at=received_at if previous is None else previous.first_received_at,
                    last_received_at=received_at,
                    notifications=1 if previous is None else previous.notifications + 1,
                )
                self._alerts[key] = kept
                self._chars += _chars(kept)
            while len(self._alerts) > self.maxlen or (self._chars > self.max_chars and len(self._alerts) > 1):
                self._chars -= _chars(self._alerts.popitem(last=False)[1])
            return len(self._alerts)

    def recent(self, status: AlertStatus | None = None, limit: int | None = None) -> list[ReceivedAlert]:
        """Alerts, most recently notified first, optionally only those with ``status``."""
        with self._lock:
            newest_first = [a for a in reversed(self._alerts.values()) if status in (None, a.status)]
        return newest_first if limit is None else newest_first[:limit]

    def __len__(self) -> int:
        with self._lock:
            return len(self._alerts)


def get_alert_log(app: FastAPI) -> AlertLog:
    """The app's alert log (``app.state.ai_usage_alerts``), created on first use."""
    log = getattr(app.state, "ai_usage_alerts", None)
    if not isinstance(log, AlertLog):
        log = AlertLog()
        app.state.ai_usage_alerts = log
    return log


#: Paths relative to the API prefix, as in the other routers: ``include_router(router, prefix=API_PREFIX)``.
router = APIRouter(tags=["alerts"])


@router.post("/alerts/webhook", response_model=WebhookAck, summary="Receive an Alertmanager notification")
async def receive_alerts(payload: WebhookPayload, request: Request) -> WebhookAck:
    stored = get_alert_log(request.app).add(payload)
    forward_alerts(request, payload)
    return WebhookAck(received=len(payload.alerts), stored=stored)


@router.get("/alerts", response_model=AlertList, summary="Alerts received from Alertmanager, newest first")
async def list_alerts(
    request: Request,
    status: Annotated[AlertStatus | None, Query(description="only firing or only resolved alerts")] = None,
    limit: Annotated[int, Query(ge=1, le=DEFAULT_MAX_ALERTS, description="at most this many alerts")] = 100,
) -> AlertList:
    log = get_alert_log(request.app)
    alerts = log.recent(status=status, limit=limit)
    firing = len(log.recent(status="firing"))
    return AlertList(count=len(alerts), firing=firing, alerts=alerts)
