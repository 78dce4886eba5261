"""Does a budget alert to a receiver that never answers slow the AI call that crossed the threshold?

Instrumented OpenAI chat calls against the fake provider (its own process), one ``notify`` budget per
user (``scope = {user_id = "*"}``) with a limit every call passes, its channel a socket that accepts
connections and never answers. Interleaved arms: a call by a new user each time (its spend crosses the
threshold: a new alert is queued, the outbox's worker sits in a hanging attempt meanwhile), and a call by
one user whose alert was queued long ago. Prints the median and p99 wall time per arm.

    python benchmarks/guard_alerts.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import openai
from notify import hanging_receiver
from overhead import MESSAGES, fake_provider_process

import ai_usage_monitor
from ai_usage_monitor.notify.outbox import get_outbox


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fake_provider_process() as urls, hanging_receiver() as url:
        settings = ai_usage_monitor.instrument(
            records_dir=Path(tmp) / "records",
            timezone="Asia/Shanghai",
            provider_hosts={"127.0.0.1": "openai"},
            channels={"ops": {"type": "webhook", "url": url}},
            notify_timeout=60.0,
            notify_exit_wait=0.0,
            budgets=[
                {
                    "name": "per-user",
                    "scope": {"user_id": "*"},
                    "limit": 1e-9,
                    "thresholds": [1.0],
                    "action": "notify",
                    "channels": ["ops"],
                }
            ],
        )
        client = openai.OpenAI(base_url=urls["OpenAI"], api_key="bench", max_retries=0)

        def call(user: str) -> float:
            with ai_usage_monitor.usage_context(user_id=user):
                start = time.perf_counter()
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                return (time.perf_counter() - start) * 1e6

        for i in range(30):  # warm-up; the first alert starts the worker, which then hangs
            call("quiet")
            call(f"warm-{i}")
        times: dict[str, list[float]] = {"alert queued (receiver hangs)": [], "no new alert": []}
        for i in range(args.rounds):
            times["alert queued (receiver hangs)"].append(call(f"user-{i}"))
            times["no new alert"].append(call("quiet"))
        print(f"{args.rounds} rounds, arms alternated; receiver never answers (attempt timeout 60 s)")
        print(f"{'arm':34} {'median µs':>10} {'p99 µs':>10}")
        for name, values in times.items():
            p99 = statistics.quantiles(values, n=100)[98]
            print(f"{name:34} {statistics.median(values):10.1f} {p99:10.1f}")
        get_outbox(settings).stop(wait=0)


if __name__ == "__main__":
    main()
