"""Cost of one ``Pricer.quote`` on the hot path, in a tight loop (memoised resolution, warm caches)."""

from __future__ import annotations

import statistics
import timeit

from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import Pricer

CASES = {
    "dashscope qwen-plus (catalogue, tiered)": {"provider": "dashscope", "model": "qwen-plus-2025-07-14"},
    "openai gpt-4o (genai-prices, USD→CNY)": {"provider": "openai", "model": "gpt-4o-2024-08-06"},
    "unknown model (unpriced)": {"provider": "dashscope", "model": "qwen-plus-character"},
}
LOOPS = 200_000
REPEATS = 7


def main() -> None:
    pricer = Pricer(Settings(currency="CNY", pricing_file=None))
    for name, target in CASES.items():
        kwargs = {**target, "input_tokens": 2000, "output_tokens": 700, "cached_tokens": 100, "at": 1.76e9}
        pricer.quote(**kwargs)  # resolve and memoise once, as the first call of a process does

        def call(kwargs: dict[str, object] = kwargs) -> None:
            pricer.quote(**kwargs)  # type: ignore[arg-type]

        runs = [t / LOOPS * 1e6 for t in timeit.repeat(call, number=LOOPS, repeat=REPEATS)]
        print(f"{name:42s} median {statistics.median(runs):5.2f} µs/call  (best {min(runs):5.2f})")


if __name__ == "__main__":
    main()
