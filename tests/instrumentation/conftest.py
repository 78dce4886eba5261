"""Fixtures of the instrumentation tests: the session's fake with its requests cleared, real OpenAI clients
(sync and async) on it, and the DashScope SDK aimed at it under ``instrument()``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ai_usage_monitor.instrumentation import instrument
from tests.instrumentation.anthropic_support import AnthropicClients
from tests.instrumentation.dashscope_support import DashScopeMonitor, reset_monitor
from tests.instrumentation.openai_support import Clients
from tests.support.dashscope import close_shared_aio_session, dashscope_aimed_at


@pytest.fixture
def fake(fake_provider: Any) -> Any:
    """The session's fake provider with its recorded requests cleared."""
    fake_provider.clear()
    return fake_provider


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def clients(fake: Any, flavour: str) -> AsyncIterator[Clients]:
    made = Clients(fake, flavour)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
def dashscope_fake(fake: Any) -> Iterator[Any]:
    """``dashscope`` aimed at the session's fake (URL read per call); URL and key restored afterwards."""
    with dashscope_aimed_at(fake) as aimed:
        yield aimed


@pytest.fixture
def monitor(dashscope_fake: Any, tmp_path: Path) -> Iterator[DashScopeMonitor]:
    """``instrument()`` for DashScope into a fresh folder (Asia/Shanghai days), spans kept in memory."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    records_dir = tmp_path / "records"
    instrument(
        providers=["dashscope"],
        tracer_provider=tracer_provider,
        records_dir=records_dir,
        timezone="Asia/Shanghai",
        raise_internal_errors=True,
    )
    try:
        yield DashScopeMonitor(fake=dashscope_fake, records_dir=records_dir, exporter=exporter)
    finally:
        reset_monitor()
        tracer_provider.shutdown()


@pytest.fixture
async def aio_session() -> AsyncIterator[None]:
    """Close DashScope's shared aiohttp session before the test's event loop ends."""
    yield
    await close_shared_aio_session()


@pytest.fixture
async def anthropic_clients(fake: Any, flavour: str) -> AsyncIterator[AnthropicClients]:
    """Real ``anthropic`` clients (sync or async, by ``flavour``) on the session's fake."""
    made = AnthropicClients(fake, flavour)
    try:
        yield made
    finally:
        await made.close()
