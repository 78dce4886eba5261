"""The fake LLM provider used by tests, benchmarks and the demo; run it alone with ``python -m``.

``python -m ai_usage_monitor.testing.fake_provider --port 8000`` serves OpenAI under ``/v1`` (and
``/compatible-mode/v1``), DashScope under ``/api/v1`` and Anthropic at ``/v1/messages`` until Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from ai_usage_monitor.testing.fake import (
    Directive,
    DirectiveError,
    FakeProvider,
    Plan,
    RecordedRequest,
    make_plan,
    parse_directive,
)

__all__ = [
    "Directive",
    "DirectiveError",
    "FakeProvider",
    "Plan",
    "RecordedRequest",
    "main",
    "make_plan",
    "parse_directive",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ai_usage_monitor.testing.fake_provider",
        description="Local fake OpenAI + DashScope server (answers steered by [[fake ...]] directives).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sleep before every answer")
    args = parser.parse_args(argv)
    with FakeProvider(args.host, args.port, latency_ms=args.latency_ms, keep_requests=False) as fake:
        print(f"OpenAI:      {fake.openai_base_url}", flush=True)
        print(f"compatible:  {fake.compatible_base_url}", flush=True)
        print(f"DashScope:   {fake.dashscope_base_url}", flush=True)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
        with contextlib.suppress(KeyboardInterrupt):
            while not stopped.wait(0.5):
                pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
