"""The ``dashscope`` SDK aimed at a local fake for one test; its shared aiohttp session closed after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dashscope

__all__ = ["close_shared_aio_session", "dashscope_aimed_at"]


@contextmanager
def dashscope_aimed_at(fake: Any) -> Iterator[Any]:
    """``dashscope`` aimed at ``fake`` (the SDK reads the URL per call); URL and key restored afterwards."""
    saved = dashscope.base_http_api_url, dashscope.api_key
    dashscope.base_http_api_url = fake.dashscope_base_url
    dashscope.api_key = "test"
    try:
        yield fake
    finally:
        dashscope.base_http_api_url, dashscope.api_key = saved


async def close_shared_aio_session() -> None:
    """Close DashScope's shared aiohttp session, where the SDK has one, before the test's event loop ends."""
    close = getattr(dashscope, "close_shared_aio_session", None)
    if close is not None:
        await close()
