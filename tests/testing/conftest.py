"""Fixtures for the fake provider's tests: one fake per module, DashScope pointed at it and restored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ai_usage_monitor.testing.fake_provider import FakeProvider
from tests.support.dashscope import close_shared_aio_session, dashscope_aimed_at


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
    with dashscope_aimed_at(fake) as aimed:
        yield aimed


@pytest.fixture
async def aio_dashscope_fake(dashscope_fake: FakeProvider) -> AsyncIterator[FakeProvider]:
    """As ``dashscope_fake``, closing DashScope's shared aiohttp session before the test's loop ends."""
    try:
        yield dashscope_fake
    finally:
        await close_shared_aio_session()
