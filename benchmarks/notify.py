"""Cost of ``notify()`` to the caller while the receiver hangs (accepts the connection, never answers)
or is down (connection refused): the call only queues, so neither may show in its time.

``python benchmarks/notify.py [--calls N]``: per-call times in µs (median, p99, p99.9, max) per receiver.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from ai_usage_monitor.notify import Message, Outbox, RetryPolicy, delivery_log_path
from ai_usage_monitor.notify.channel_config import validate_channels


@contextmanager
def hanging_receiver() -> Iterator[str]:
    """A listening socket nobody reads: connections complete, requests are never answered."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/robot/send?access_token=bench"


@contextmanager
def down_receiver() -> Iterator[str]:
    """A port nothing listens on: every attempt is refused at once."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}/robot/send?access_token=bench"


def measure(url: str, calls: int, records_dir: Path) -> list[float]:
    """Per-call µs of ``calls`` notify() calls with distinct keys, after the worker has started."""
    channels = validate_channels({"ops": {"type": "dingtalk", "url": url, "secret": "SECbench"}})
    policy = RetryPolicy(timeout=30.0, max_attempts=3, first_delay=1.0)
    outbox = Outbox(delivery_log_path(records_dir), channels, policy)
    outbox.notify(Message(key="warm-up", title="warm-up"), ["ops"])
    time.sleep(0.5)  # the worker has stored the warm-up message and is in (or past) its first attempt
    messages = [
        Message(key=f"budget:bench:{i}", title="预算提醒", spent=40.0, limit=50.0) for i in range(calls)
    ]
    times = []
    clock = time.perf_counter_ns
    for message in messages:
        start = clock()
        outbox.notify(message, ["ops"])
        times.append((clock() - start) / 1000)
    outbox.stop(wait=0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    for name, receiver in (("hanging receiver", hanging_receiver), ("receiver down", down_receiver)):
        with tempfile.TemporaryDirectory() as tmp, receiver() as url:
            times = sorted(measure(url, args.calls, Path(tmp)))
        p99, p999 = (times[int(len(times) * q) - 1] for q in (0.99, 0.999))
        print(
            f"notify() with {name:16s}: median {statistics.median(times):5.2f} µs, p99 {p99:5.2f} µs, "
            f"p99.9 {p999:7.1f} µs, max {times[-1]:8.1f} µs over {len(times):,} calls"
        )


if __name__ == "__main__":
    main()
