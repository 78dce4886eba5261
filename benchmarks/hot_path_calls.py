"""Python function calls the monitor adds to one SDK call, counted in the caller's thread: a deterministic
companion to ``overhead.py``, whose timings a busy machine blurs. Same count before and after a change
means the hot path does the same work.

    python benchmarks/hot_path_calls.py
"""

from __future__ import annotations

import collections
import sys
import tempfile
from collections.abc import Callable
from types import FrameType
from typing import Any

import anthropic
import openai

import ai_usage_monitor
from ai_usage_monitor.testing.fake import FakeProvider

MESSAGES: Any = [{"role": "user", "content": "分析这段直播间弹幕的情绪"}]
GPT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
CLAUDE: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": MESSAGES}


def _package(filename: str) -> str:
    if "ai_usage_monitor" in filename:
        return "ai_usage_monitor"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    return "other"


def calls_by_package(call: Callable[[], Any]) -> collections.Counter[str]:
    """Python-level calls made by ``call()`` in this thread, by the package of the called code."""
    counts: collections.Counter[str] = collections.Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            counts[_package(frame.f_code.co_filename)] += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return counts


def main() -> None:
    with FakeProvider(keep_requests=False) as fake:
        chat_client = openai.OpenAI(api_key="k", base_url=fake.openai_base_url, max_retries=0)
        claude = anthropic.Anthropic(api_key="k", base_url=fake.anthropic_base_url, max_retries=0)
        scenarios: dict[str, Callable[[], Any]] = {
            "openai chat": lambda: chat_client.chat.completions.create(**GPT),
            "openai stream": lambda: list(chat_client.chat.completions.create(**GPT, stream=True)),
            "anthropic create": lambda: claude.messages.create(**CLAUDE),
            "anthropic stream": lambda: list(claude.messages.create(**CLAUDE, stream=True)),
        }
        for call in scenarios.values():  # warm caches and lazy imports first
            call()
        bare = {name: calls_by_package(call) for name, call in scenarios.items()}
        ai_usage_monitor.instrument(records_dir=tempfile.mkdtemp())
        for call in scenarios.values():
            call()
        ours = {name: calls_by_package(call) for name, call in scenarios.items()}
    print(f"{'scenario':<18}{'monitor calls':>15}{'bare calls':>12}")
    for name in scenarios:
        print(f"{name:<18}{ours[name]['ai_usage_monitor']:>15}{sum(bare[name].values()):>12}")


if __name__ == "__main__":
    main()
