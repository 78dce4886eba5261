"""The outbox: ``notify()`` only appends to an in-memory queue; one background thread per outbox stores
each message in the shared delivery log and delivers it with retries and exponential backoff.

A receiver that is down or slow therefore never delays the caller. At process exit a bounded wait
flushes what is due; the rest stays pending in the log and the next process to start a worker sends it.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ai_usage_monitor.internal import handle_internal_error
from ai_usage_monitor.notify.channels import Channel, DeliveryError, build_channel
from ai_usage_monitor.notify.delivery_log import DeliveryLog, DueDelivery, delivery_log_path
from ai_usage_monitor.notify.message import Message

if TYPE_CHECKING:
    from ai_usage_monitor.config import Settings

__all__ = ["Outbox", "RetryPolicy", "get_outbox", "notify", "shutdown_outboxes"]

#: How often an idle worker looks for deliveries other processes left pending.
_POLL_SECONDS = 2.0
#: How long stopping waits for the worker after the flush (a hanging attempt is not waited for).
_JOIN_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded attempts, each bounded by ``timeout``; the n-th retry waits ``first_delay * 2**(n-1)``."""

    timeout: float = 10.0
    max_attempts: int = 6
    first_delay: float = 2.0
    max_delay: float = 600.0

    def delay(self, attempt: int) -> float:
        return float(min(self.first_delay * 2 ** (attempt - 1), self.max_delay))

    @property
    def lease(self) -> float:
        """How long an attempt owns a delivery: past it, another process may take the delivery over."""
        return self.timeout * 2 + 5


class Outbox:
    """Queues messages for named channels and delivers them from a daemon thread."""

    def __init__(
        self,
        log_path: Path,
        channels: Mapping[str, Any],
        policy: RetryPolicy | None = None,
        *,
        exit_wait: float = 2.0,
        poll_seconds: float = _POLL_SECONDS,
    ) -> None:
        self.log_path = log_path
        self.channels: dict[str, Channel] = {name: build_channel(name, cfg) for name, cfg in channels.items()}
        self.policy = policy or RetryPolicy()
        self.exit_wait = exit_wait
        self.poll_seconds = poll_seconds
        self._queue: deque[tuple[Message, list[str]]] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._log: DeliveryLog | None = None

    def notify(self, message: Message, channels: Sequence[str]) -> None:
        """Queue ``message`` for ``channels`` and return at once; delivery happens on the worker thread.

        A channel name that is not configured is the caller's mistake: a ``KeyError``, nothing queued."""
        unknown = [name for name in channels if name not in self.channels]
        if unknown:
            raise KeyError(
                f"no channel named {', '.join(map(repr, unknown))}; configured: {sorted(self.channels)}"
            )
        self._idle.clear()
        self._queue.append((message, list(channels)))
        self._wake.set()
        thread = self._thread
        if thread is None or not thread.is_alive():
            self.start()

    def start(self) -> None:
        """Start the worker (it also sends what earlier processes left pending); idempotent."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="ai-usage-notify", daemon=True)
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until everything queued is stored and nothing is due; True if so."""
        if self._thread is None or not self._thread.is_alive():
            return not self._queue
        self._wake.set()
        return self._idle.wait(timeout)

    def stop(self, wait: float | None = None) -> bool:
        """Flush for ``wait`` s (default the exit wait), then stop the worker; True if all was flushed."""
        flushed = self.flush(self.exit_wait if wait is None else wait)
        self._stop.set()
        self._wake.set()
        if self._queue:  # the worker is stuck in a slow attempt: store the rest for the next process
            try:
                self._drain(self.log)
            except Exception as exc:
                handle_internal_error("notify.outbox", exc)
        if self._thread is not None:
            self._thread.join(_JOIN_SECONDS)  # a hanging attempt is abandoned; its lease expires
            self._thread = None
        return flushed

    @property
    def log(self) -> DeliveryLog:
        """The delivery log (opened on first use)."""
        with self._start_lock:
            if self._log is None:
                self._log = DeliveryLog(self.log_path)
            return self._log

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._step()
            except Exception as exc:
                wait = self.poll_seconds
                handle_internal_error("notify.outbox", exc)
            if self._stop.is_set():
                break
            self._wake.wait(wait)
            self._wake.clear()

    def _step(self) -> float:
        """Store what was queued, make every due attempt; returns how long to sleep."""
        log = self.log
        self._drain(log)
        for due in log.lease_due(self.policy.lease):
            if self._stop.is_set():
                break
            self._attempt(log, due)
            self._drain(log)
        now = time.time()
        next_at = log.next_due_at()
        if not self._queue and (next_at is None or next_at > now):
            self._idle.set()
        return self.poll_seconds if next_at is None else max(0.0, min(next_at - now, self.poll_seconds))

    def _drain(self, log: DeliveryLog) -> None:
        """Move queued messages into the delivery log (where other processes see them, and they persist)."""
        with self._drain_lock:
            while self._queue:
                message, channels = self._queue[0]
                log.enqueue(message, channels)
                self._queue.popleft()

    def _attempt(self, log: DeliveryLog, due: DueDelivery) -> None:
        channel = self.channels.get(due.channel)
        error: str | None = None
        try:
            if channel is None:
                raise DeliveryError(f"channel {due.channel!r} is not configured in process {os.getpid()}")
            channel.send(due.message, self.policy.timeout)
        except DeliveryError as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # a channel's own bug must not stop the worker
            error = f"{type(exc).__name__}: {exc}"
        retry_at = None
        if error is not None and channel is not None and due.attempt < self.policy.max_attempts:
            retry_at = time.time() + self.policy.delay(due.attempt)
        log.finish(due, error, retry_at)


_outboxes: dict[Path, Outbox] = {}
_registry_lock = threading.Lock()


def get_outbox(settings: Settings) -> Outbox:
    """The process's outbox for ``settings``' records folder (one worker per delivery log)."""
    path = delivery_log_path(settings.records_dir).resolve()
    with _registry_lock:
        outbox = _outboxes.get(path)
        if outbox is None:
            policy = RetryPolicy(
                timeout=settings.notify_timeout,
                max_attempts=settings.notify_max_attempts,
                first_delay=settings.notify_retry_delay,
            )
            outbox = Outbox(path, settings.channels, policy, exit_wait=settings.notify_exit_wait)
            if not _outboxes:
                atexit.register(shutdown_outboxes)
            _outboxes[path] = outbox
        return outbox


def _forget_after_fork() -> None:
    """A forked child has no worker thread and must not share the parent's SQLite connection."""
    global _registry_lock
    _registry_lock = threading.Lock()
    _outboxes.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_after_fork)


def shutdown_outboxes() -> None:
    """Flush every outbox of the process (each for its exit wait) and stop their workers; run at exit."""
    with _registry_lock:
        outboxes = list(_outboxes.values())
        _outboxes.clear()
    for outbox in outboxes:
        outbox.stop()


def notify(message: Message, channels: Sequence[str], settings: Settings | None = None) -> None:
    """Send ``message`` to the named channels without blocking; never raises (errors are the monitor's)."""
    try:
        if settings is None:
            from ai_usage_monitor.state import resolve_settings

            settings = resolve_settings()
        get_outbox(settings).notify(message, channels)
    except Exception as exc:
        handle_internal_error("notify", exc)
