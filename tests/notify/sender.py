"""A separate process that notifies, for the cross-process tests: ``python -m tests.notify.sender SPEC``.

SPEC is JSON: ``records_dir``, ``channels``, ``key``, ``mode`` ("exit": notify and exit at once, relying on
the exit flush; "linger": notify, print READY once an attempt is logged, then wait to be killed), and
optionally ``start_at`` (a wall-clock instant to wait for, so two processes race).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ai_usage_monitor.config import Settings
from ai_usage_monitor.notify import Message, get_outbox, notify


def main(spec: dict[str, Any]) -> None:
    settings = Settings(
        records_dir=spec["records_dir"],
        channels=spec["channels"],
        notify_timeout=1.0,
        notify_retry_delay=0.1,
        notify_exit_wait=5.0,
    )
    message = Message(key=spec["key"], title=f"来自进程的消息 {spec['key']}")
    if "start_at" in spec:
        time.sleep(max(0.0, spec["start_at"] - time.time()))
    notify(message, list(spec["channels"]), settings)
    if spec["mode"] == "linger":
        log = get_outbox(settings).log
        while not any(row.status in ("retry", "failed") for row in log.attempts(10)):
            time.sleep(0.02)
        print("READY", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
