"""``ai-usage-monitor demo``: the monitor's server plus simulated live-stream traffic, all on this machine.

The traffic goes through the real, instrumented ``openai`` and ``dashscope`` clients to the project's
local fake provider, so the demo shows exactly what an instrumented app records. Demo records go to
their own folder and never into the real one.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import uvicorn

from ai_usage_monitor.api.app import PAGE_PATH, create_app
from ai_usage_monitor.config import Settings
from ai_usage_monitor.context import usage_context
from ai_usage_monitor.exporter.jsonl import record_file_name
from ai_usage_monitor.instrumentation import instrument, uninstrument
from ai_usage_monitor.recorder import record_ai_usage, set_recorder
from ai_usage_monitor.state import active_settings, set_active_settings
from ai_usage_monitor.store.day_files import GZ_SUFFIX
from ai_usage_monitor.testing.fake_provider import FakeProvider

__all__ = [
    "ANALYSIS",
    "DEMO_RECORDS_DIR",
    "DEMO_SERVICE",
    "SCRIPT",
    "Anchor",
    "DemoCall",
    "backfill",
    "demo_records_dir",
    "plan_call",
    "run_demo",
]

logger = logging.getLogger("ai_usage_monitor.demo")

#: the simulated app's name on its records (the dashboard's service picker), unless the settings name one
DEMO_SERVICE = "直播助手"
ANALYSIS = "实时分析"
SCRIPT = "话术生成"
DEMO_RECORDS_DIR = Path("records/demo")
#: Seconds of wall time between two rounds (one analysis, one script) of the same anchor, on average.
ROUND_SECONDS = 1.5
#: Every anchor's n-th call fails when n % ERROR_EVERY == ERROR_AT (so errors appear early and steadily).
ERROR_EVERY = 12
ERROR_AT = 3
FAKE_API_KEY = "sk-demo-local-fake"
#: The SDKs the demo's traffic goes through.
DEMO_SDKS = ("openai", "dashscope")
#: where the demo's fake provider listens
FAKE_HOST = "127.0.0.1"

Client = Literal["dashscope", "compatible", "openai"]


@dataclass(frozen=True)
class Anchor:
    """A streamer, the operators who trigger calls for them, and today's live session."""

    anchor_id: str
    user_ids: tuple[str, ...]


ANCHORS = (
    Anchor("anchor_001", ("user_001", "user_002")),
    Anchor("anchor_002", ("user_003",)),
    Anchor("anchor_003", ("user_004", "user_005")),
    Anchor("anchor_004", ("user_006",)),
)


@dataclass(frozen=True)
class DemoCall:
    """One simulated request: the client it goes through and the usage the fake provider reports."""

    client: Client
    model: str
    function: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    stream: bool = False
    error: int | None = None
    delay_ms: int = 0

    @property
    def provider(self) -> str:
        return "openai" if self.client == "openai" else "dashscope"

    def directive(self) -> str:
        """The ``[[fake ...]]`` text that makes the fake provider answer with this usage."""
        parts = [
            f"prompt_tokens={self.prompt_tokens}",
            f"completion_tokens={self.completion_tokens}",
            f"cached_tokens={self.cached_tokens}",
            f"reasoning_tokens={self.reasoning_tokens}",
            f"delay_ms={self.delay_ms}",
        ]
        if self.error is not None:
            parts.append(f"error={self.error}")
        return f"[[fake {' '.join(parts)}]]"


# (client, model, weight, stream share, latency range in ms) per function
_ROUTES: dict[str, tuple[tuple[Client, str, float, float, tuple[int, int]], ...]] = {
    ANALYSIS: (
        ("dashscope", "qwen-plus", 0.5, 0.4, (300, 900)),
        ("compatible", "qwen-turbo", 0.3, 0.0, (120, 350)),
        ("compatible", "qwen-plus", 0.2, 1.0, (300, 900)),
    ),
    SCRIPT: (
        ("dashscope", "qwen-max", 0.4, 0.0, (600, 1600)),
        ("openai", "gpt-4o-mini", 0.35, 0.3, (250, 800)),
        ("dashscope", "qwen-plus", 0.25, 0.0, (400, 1200)),
    ),
}


def plan_call(rng: random.Random, function: str, index: int) -> DemoCall:
    """The ``index``-th call of one anchor for ``function``: model, client, usage, stream, error."""
    routes = _ROUTES[function]
    client, model, _, stream_share, (low, high) = rng.choices(routes, weights=[r[2] for r in routes])[0]
    if function == ANALYSIS:
        # The analysis prompt re-sends the live room's context, so its beginning is often a cache hit.
        prompt = rng.randint(1500, 3500)
        completion = rng.randint(200, 600)
        cached = int(prompt * rng.uniform(0.4, 0.7)) if rng.random() < 0.6 else 0
        reasoning = 0
    else:
        prompt = rng.randint(600, 1500)
        completion = rng.randint(300, 900)
        cached = 0
        reasoning = rng.randint(100, 300) if model == "qwen-plus" else 0
        completion += reasoning
    error = None
    if index % ERROR_EVERY == ERROR_AT:
        error = 429 if index % (2 * ERROR_EVERY) == ERROR_AT else 500
    stream = rng.random() < stream_share
    latency = rng.randint(low, high)
    return DemoCall(
        client=client,
        model=model,
        function=function,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
        stream=stream,
        error=error,
        # The fake waits this long before answering and again between stream frames (three of them).
        delay_ms=latency // 4 if stream else latency,
    )


def demo_records_dir(settings: Settings) -> Path:
    """``settings.records_dir``, unless that is where real records live (the default or the environment's)."""
    real = {Path(str(Settings.model_fields["records_dir"].default)).resolve()}
    from_env = os.environ.get("AI_USAGE_RECORDS_DIR")
    if from_env:
        real.add(Path(from_env).resolve())
    return DEMO_RECORDS_DIR if settings.records_dir.resolve() in real else settings.records_dir


# ---------------------------------------------------------------- history


def _timestamps(rng: random.Random, day_start: datetime, count: int) -> list[float]:
    """``count`` sorted moments of a local day, most of them in the evening when anchors are live."""
    stamps = []
    for _ in range(count):
        hour = rng.choices(
            range(24), weights=[1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4, 4, 5, 5, 6, 8, 10, 12, 12, 9, 4]
        )[0]
        stamps.append((day_start + timedelta(hours=hour, seconds=rng.uniform(0, 3600))).timestamp())
    return sorted(stamps)


#: The tag every backfilled record carries; today's file holding it was backfilled already.
BACKFILL_TAGS = {"demo": "backfill"}
_BACKFILL_MARK = b'"demo":"backfill"'
#: Share of historical calls that fail (rate limits and server errors, a few in bursts).
BACKFILL_ERROR_SHARE = 0.04
#: Today's history stops this many seconds before now: live traffic takes over from there.
_LIVE_MARGIN_SECONDS = 60.0


def _backfilled(path: Path, today: bool) -> bool:
    """A past day is done once its file exists (plain or gzipped by retention); today once its file holds
    backfilled records."""
    if not today:
        return path.exists() or path.with_name(path.name + GZ_SUFFIX).exists()
    try:
        return _BACKFILL_MARK in path.read_bytes()
    except OSError:
        return False


def backfill(
    days: int, tz: tzinfo, records_dir: Path, *, now: float | None = None, seed: int = 20251026
) -> int:
    """Synthetic history for the ``days`` days before today and for today until now, priced like real calls.

    Traffic follows a live-streaming day (quiet mornings, busy evenings, busier weekends, growing over the
    month); anchors, operators and failures are spread at random, with occasional bursts of errors.
    Needs ``instrument()`` (or another recorder) set up for ``records_dir``. A day already backfilled is
    left alone, so running the demo again adds nothing twice. Returns the records written.
    """
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, tz).date()
    rng = random.Random(seed)
    written = 0
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        if _backfilled(records_dir / record_file_name(day.isoformat()), today=back == 0):
            continue
        day_start = datetime(day.year, day.month, day.day, tzinfo=tz)
        volume = (160 + 5 * (days - back)) * (1.35 if day.weekday() >= 5 else 1.0) * rng.uniform(0.8, 1.2)
        stamps = [ts for ts in _timestamps(rng, day_start, int(volume)) if ts < now - _LIVE_MARGIN_SECONDS]
        burst_until = 0.0
        for i, ts in enumerate(stamps):
            anchor = rng.choice(ANCHORS)
            call = plan_call(rng, ANALYSIS if rng.random() < 0.6 else SCRIPT, i + 1)
            if rng.random() < BACKFILL_ERROR_SHARE / 4:
                burst_until = ts + rng.uniform(60, 600)  # a provider hiccup: a few minutes of failures
            error = _history_error(rng, in_burst=ts < burst_until)
            record_ai_usage(
                model=call.model,
                function=call.function,
                # a failed call returns no usage: its tokens are unknown, as the instrumentation records them
                input_tokens=None if error else call.prompt_tokens,
                output_tokens=None if error else call.completion_tokens,
                cached_tokens=None if error else call.cached_tokens,
                reasoning_tokens=None if error else call.reasoning_tokens,
                duration_ms=float(call.delay_ms),
                success=error is None,
                error_msg=f"HTTP {error}" if error else None,
                error_type={429: "RateLimitError", 500: "InternalServerError"}.get(error) if error else None,
                anchor_id=anchor.anchor_id,
                session_id=f"{anchor.anchor_id}-{day:%Y%m%d}",
                user_id=rng.choice(anchor.user_ids),
                provider=call.provider,
                thinking=call.reasoning_tokens > 0,
                timestamp=ts,
                source="demo",
                tags=BACKFILL_TAGS,
            )
            written += 1
    return written


def _history_error(rng: random.Random, *, in_burst: bool) -> int | None:
    """The HTTP status of a failed historical call, or ``None`` when it succeeded."""
    if rng.random() >= (0.5 if in_burst else BACKFILL_ERROR_SHARE * 0.75):
        return None
    return 429 if rng.random() < 0.6 else 500


# ---------------------------------------------------------------- live traffic


class _Clients:
    """The real SDK clients, pointed at the fake provider."""

    def __init__(self, fake: FakeProvider) -> None:
        import dashscope
        import openai

        self._dashscope = dashscope
        self._previous_dashscope_url = dashscope.base_http_api_url
        dashscope.base_http_api_url = fake.dashscope_base_url
        self.openai = openai.OpenAI(base_url=fake.openai_base_url, api_key=FAKE_API_KEY, max_retries=0)
        self.compatible = openai.OpenAI(
            base_url=fake.compatible_base_url, api_key=FAKE_API_KEY, max_retries=0
        )
        self.api_error: type[Exception] = openai.APIError

    def close(self) -> None:
        self.openai.close()
        self.compatible.close()
        self._dashscope.base_http_api_url = self._previous_dashscope_url

    def send(self, call: DemoCall, topic: str) -> None:
        """Make the call through the instrumented SDK and read every streamed chunk."""
        messages: list[Any] = [
            {"role": "system", "content": f"You help a live-stream anchor with: {call.function}."},
            {"role": "user", "content": f"{topic} {call.directive()}"},
        ]
        if call.client == "dashscope":
            result: Any = self._dashscope.Generation.call(
                model=call.model,
                messages=messages,
                result_format="message",
                stream=call.stream,
                incremental_output=call.stream,
                api_key=FAKE_API_KEY,
            )
        else:
            client = self.openai if call.client == "openai" else self.compatible
            request: dict[str, Any] = {"model": call.model, "messages": messages, "stream": call.stream}
            if call.stream:
                request["stream_options"] = {"include_usage": True}
            try:
                result = client.chat.completions.create(**request)
            except self.api_error:
                return  # the instrumentation has recorded the failed call
        if call.stream:
            for _chunk in result:
                pass


_TOPICS = ("新品口红试色", "粉丝提问:尺码怎么选", "直播间人数上涨", "限时秒杀开始", "观众说太贵了")


def _anchor_traffic(anchor: Anchor, clients: _Clients, stop: threading.Event, seed: int) -> None:
    """One anchor's live session: a round of analysis and script generation every few seconds."""
    rng = random.Random(seed)
    session_id = f"{anchor.anchor_id}-live-{datetime.now():%Y%m%d%H%M}"
    index = 0
    while not stop.is_set():
        for function in (ANALYSIS, SCRIPT):
            call = plan_call(rng, function, index)
            index += 1
            user_id = rng.choice(anchor.user_ids)
            context = usage_context(
                user_id=user_id,
                anchor_id=anchor.anchor_id,
                session_id=session_id,
                function=function,
                tags={"demo": "live"},
            )
            try:
                with context:
                    clients.send(call, rng.choice(_TOPICS))
            except Exception:  # a demo thread must outlive any one failed call
                logger.debug("demo call failed", exc_info=True)
        stop.wait(ROUND_SECONDS * rng.uniform(0.5, 1.5))


@contextmanager
def _traffic(fake: FakeProvider, stop: threading.Event) -> Iterator[None]:
    clients = _Clients(fake)
    threads = [
        threading.Thread(
            target=_anchor_traffic,
            args=(anchor, clients, stop, i),
            name=f"demo-{anchor.anchor_id}",
            daemon=True,
        )
        for i, anchor in enumerate(ANCHORS)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        clients.close()


# ---------------------------------------------------------------- process plumbing


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound now so that a busy port is a clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another port") from exc
    return sock


@contextmanager
def _serving(settings: Settings, sock: socket.socket) -> Iterator[None]:
    """The monitor's app under uvicorn in a background thread, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the monitor's server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def _instrumented(settings: Settings, records_dir: Path) -> Iterator[Settings]:
    """``instrument()`` writing to ``records_dir``; undone afterwards."""
    previous = active_settings()
    # the fake provider's host is unknown, so its own provider name by default: the demo shows it as OpenAI
    hosts = {FAKE_HOST: "openai", **settings.provider_hosts}
    # only the two SDKs the demo drives: importing another one (anthropic: seconds) would delay the start
    active = instrument(
        providers=DEMO_SDKS,
        **{
            **settings.model_dump(),
            "records_dir": records_dir,
            "provider_hosts": hosts,
            "service": settings.service or DEMO_SERVICE,
        },
    )
    try:
        yield active
    finally:
        uninstrument()
        recorder = set_recorder(None)
        if recorder is not None:
            recorder.close()
        set_active_settings(previous)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (only the main thread can own signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    wanted = (signal.SIGINT, signal.SIGTERM)
    previous: dict[int, Callable[..., Any] | int | None] = {
        sig: signal.signal(sig, handler) for sig in wanted
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
    return f"http://{shown}:{port}{PAGE_PATH}"


def run_demo(
    settings: Settings,
    *,
    backfill_days: int = 0,
    open_url_message: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """Serve the dashboard at ``settings.host:port`` over simulated traffic until SIGINT/SIGTERM or ``stop``.

    Records go to ``settings.records_dir`` unless that is the real records folder, then to
    ``records/demo``. ``backfill_days`` first writes that many days of history before today.
    """
    stop = stop or threading.Event()
    records_dir = demo_records_dir(settings)
    with ExitStack() as stack:
        sock = _listen(settings.host, settings.port)
        stack.callback(sock.close)
        stack.enter_context(_stop_on_signals(stop))
        fake = stack.enter_context(FakeProvider(FAKE_HOST, keep_requests=False))
        active = stack.enter_context(_instrumented(settings, records_dir))
        if backfill_days > 0:
            written = backfill(backfill_days, active.tz, records_dir)
            logger.info("demo: wrote %d records of history", written)
        stack.enter_context(_serving(active, sock))
        stack.enter_context(_traffic(fake, stop))
        if open_url_message:
            print(
                "AI usage monitor demo\n"
                f"  dashboard:  {_page_url(settings.host, settings.port)}\n"
                f"  records:    {records_dir} (demo data only)\n"
                f"  fake LLM:   {fake.base_url} (OpenAI and DashScope, local)\n"
                "Press Ctrl+C to stop.",
                flush=True,
            )
        while not stop.wait(0.5):
            pass
