"""Fixtures for the fake provider's tests: one fake per module, DashScope pointed at it and restored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import dashscope
import pytest

from ai_usage_monitor.testing.fake_provider import FakeProvider


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake(module_fake: FakeProvider) -> FakeProvider:
    """The module's fake with no recorded requests."""
    module_fake.clear()
    return module_fake


@pytest.fixture
def dashscope_fake(fake: FakeProvider) -> Iterator[FakeProvider]:
    """``dashscope`` aimed at the fake (URL read per call), its URL and key restored afterwards."""
    saved = dashscope.base_http_api_url, dashscope.api_key
    dashscope.base_http_api_url = fake.dashscope_base_url
    dashscope.api_key = "test"
    try:
        yield fake
    finally:
        dashscope.base_http_api_url, dashscope.api_key = saved


@pytest.fixture
async def aio_dashscope_fake(dashscope_fake: FakeProvider) -> AsyncIterator[FakeProvider]:
    """As ``dashscope_fake``, closing DashScope's shared aiohttp session before the test's loop ends."""
    try:
        yield dashscope_fake
    finally:
        close = getattr(dashscope, "close_shared_aio_session", None)
        if close is not None:
            await close()
