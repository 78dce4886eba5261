"""Sending the digest: each day from ``digest_time`` (local), the daily one, and on ``digest_weekly_day``
also the weekly one, through the notification outbox to ``digest_channels``.

"Once per period" rests on the outbox's delivery log: it holds one row per message key and channel for
every process of the host, so a digest whose key (``digest:daily:<day>``, ``digest:weekly:<ISO week>``)
is already there is neither built nor queued again — after a restart, or by a second server. A server
started after the time sends the day's digest at once (catch-up); a day it was not running is not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ai_usage_monitor.insights.digest import DigestKind, DigestPeriod, build_digest, digest_period
from ai_usage_monitor.insights.digest_facts import collect_digest
from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.notify import Message, Outbox, get_outbox

if TYPE_CHECKING:
    from ai_usage_monitor.config import Settings
    from ai_usage_monitor.store.backend import Store

__all__ = [
    "WEEKDAYS",
    "DigestScheduler",
    "due_kinds",
    "pending_channels",
    "queue_digest",
    "render_digest",
    "start_digest",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Longest sleep of the scheduler between two looks at the clock (the system clock may be changed).
_MAX_SLEEP = 60.0


def _send_at(settings: Settings, day: date) -> datetime:
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=settings.tz)


def due_kinds(settings: Settings, now: float) -> list[DigestKind]:
    """The digests due at ``now``: none before the day's ``digest_time``, then the daily one, and the
    weekly one too on its weekday."""
    local = datetime.fromtimestamp(now, settings.tz)
    if local < _send_at(settings, local.date()):
        return []
    weekly = settings.digest_weekly_day != "never" and WEEKDAYS[local.weekday()] == settings.digest_weekly_day
    return ["daily", "weekly"] if weekly else ["daily"]


def pending_channels(outbox: Outbox, key: str, channels: Sequence[str]) -> list[str]:
    """The channels the delivery log has no delivery of ``key`` for (sent, pending or given up)."""
    return [name for name in channels if outbox.log.status_of(key, name) is None]


def render_digest(store: Store, kind: DigestKind, now: float | None = None) -> Message:
    """The ``kind`` digest due on the local day of ``now``, in the configured digest language."""
    settings = store.settings
    language = settings.digest_language or settings.notify_language
    return build_digest(collect_digest(store, kind, now=now), language)


def queue_digest(
    store: Store, kind: DigestKind, *, now: float | None = None, outbox: Outbox | None = None
) -> tuple[DigestPeriod, list[str]]:
    """Build and queue the ``kind`` digest for the channels that never had it; returns the period and
    those channels (empty: it went before, and nothing was built)."""
    settings = store.settings
    t = time.time() if now is None else now
    period = digest_period(kind, datetime.fromtimestamp(t, settings.tz).date())
    box = outbox or get_outbox(settings)
    channels = pending_channels(box, period.key, settings.digest_channels)
    if channels:
        box.notify(render_digest(store, kind, t), channels)
    return period, channels


class DigestScheduler:
    """A daemon thread that queues each due digest once; ``run_due(now)`` is one look at the clock."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        outbox: Outbox | None = None,
        max_sleep: float = _MAX_SLEEP,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_sleep = max_sleep
        self._outbox = outbox
        #: keys known to be in the delivery log: not looked up again
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = get_outbox(self.store.settings)
        return self._outbox

    def run_due(self, now: float | None = None) -> list[str]:
        """Queue every digest due at ``now`` (default: the clock) that no process queued; their keys."""
        t = self.clock() if now is None else now
        queued = []
        for kind in due_kinds(self.store.settings, t):
            key = digest_period(kind, datetime.fromtimestamp(t, self.store.tz).date()).key
            if key in self._done:
                continue
            period, channels = queue_digest(self.store, kind, now=t, outbox=self.outbox)
            self._done.add(period.key)
            if channels:
                queued.append(period.key)
        return queued

    def seconds_to_next(self, now: float) -> float:
        """Seconds from ``now`` to the next ``digest_time`` (today's if still ahead, else tomorrow's)."""
        settings = self.store.settings
        today = datetime.fromtimestamp(now, settings.tz).date()
        at = _send_at(settings, today)
        if at.timestamp() <= now:
            at = _send_at(settings, today + timedelta(days=1))
        return at.timestamp() - now

    def start(self) -> None:
        """Start the thread (a due digest is queued at once); idempotent."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ai-usage-digest", daemon=True)
            self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception as exc:  # logged once; the next look tries again
                handle_internal_error("digest", exc)
            self._stop.wait(min(self.seconds_to_next(self.clock()), self.max_sleep))


def start_digest(store: Store) -> DigestScheduler | None:
    """With ``digest_channels`` set, the started scheduler of ``store``'s digests (the server's lifespan)."""
    if not store.settings.digest_channels:
        return None
    scheduler = DigestScheduler(store)
    scheduler.start()
    return scheduler
