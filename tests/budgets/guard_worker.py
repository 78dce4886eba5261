"""A process of the guard tests: ``python -m tests.budgets.guard_worker SPEC_JSON``.

Instruments itself with one ``block`` budget (``limit``; ``redis``: a shared store) writing to
``records_dir``, then ``threads`` threads call the fake at ``base_url`` with the real OpenAI SDK until the
guard refuses them; prints one JSON line: calls that went out, and each refusal's figures.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import openai

import ai_usage_monitor
from ai_usage_monitor import BudgetExceeded

__all__ = ["CALL", "main"]

#: one call: its real usage is set by the fake directive, well below its worst case (``max_tokens``)
CALL: dict[str, Any] = {
    "model": "qwen-plus",
    "messages": [{"role": "user", "content": "[[fake prompt_tokens=100 completion_tokens=400]] 你好"}],
    "max_tokens": 1000,
}


def _hammer(client: openai.OpenAI, out: dict[str, Any], lock: threading.Lock) -> None:
    calls = 0
    while True:
        try:
            client.chat.completions.create(**CALL)
        except BudgetExceeded as exc:
            with lock:
                out["refusals"].append([exc.spent, exc.reserved, exc.needed])
            break
        calls += 1
    with lock:
        out["calls"] += calls


def main() -> None:
    spec = json.loads(sys.argv[1])
    ai_usage_monitor.instrument(
        providers=["openai"],
        records_dir=spec["records_dir"],
        timezone="Asia/Shanghai",
        raise_internal_errors=True,
        budgets=[{"name": spec["budget"], "limit": spec["limit"], "action": "block"}],
        budget_store=spec.get("redis"),
        budget_slice=spec.get("slice", 0.0),
    )
    client = openai.OpenAI(api_key="test-key", base_url=spec["base_url"], max_retries=0)
    out: dict[str, Any] = {"calls": 0, "refusals": []}
    lock = threading.Lock()
    count = int(spec["threads"])
    threads = [threading.Thread(target=_hammer, args=(client, out, lock)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
