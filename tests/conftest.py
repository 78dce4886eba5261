"""Fixtures shared by the whole suite: the fake provider, and an instrumented process writing to tmp."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.records import read_records


@pytest.fixture(autouse=True)
def _raise_internal_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's own tests want the monitor's internal errors raised, never swallowed."""
    monkeypatch.setenv("AI_USAGE_RAISE_INTERNAL_ERRORS", "1")


#: the ``provider_hosts`` setting of every test: the local fake provider's host stands for OpenAI
FAKE_PROVIDER_HOSTS = '{"127.0.0.1": "openai"}'


@pytest.fixture(autouse=True)
def _fake_provider_is_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls to the fake at 127.0.0.1 (an unknown host, by default its own provider) count as OpenAI's."""
    monkeypatch.setenv("AI_USAGE_PROVIDER_HOSTS", FAKE_PROVIDER_HOSTS)


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[Any]:
    """One local fake OpenAI + DashScope server for the whole session."""
    from ai_usage_monitor.testing.fake_provider import FakeProvider

    with FakeProvider() as fake:
        yield fake


@dataclass
class Instrumented:
    """What a test gets from the ``instrumented`` fixture."""

    records_dir: Path
    settings: Any

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.records_dir)


@pytest.fixture
def instrumented(tmp_path: Path) -> Iterator[Instrumented]:
    """``instrument()`` writing to a fresh folder (Asia/Shanghai days); uninstrumented afterwards."""
    import ai_usage_monitor.instrumentation as inst
    from ai_usage_monitor.recorder import set_recorder
    from ai_usage_monitor.state import set_active_settings

    records_dir = tmp_path / "records"
    settings = inst.instrument(records_dir=records_dir, timezone="Asia/Shanghai", raise_internal_errors=True)
    try:
        yield Instrumented(records_dir=records_dir, settings=settings)
    finally:
        inst.uninstrument()
        previous = set_recorder(None)
        if previous is not None:
            previous.close()
        set_active_settings(None)


# the real ClickHouse server of the store backend's tests (tests/support/clickhouse.py)
from tests.support.clickhouse import clickhouse_server, clickhouse_url  # noqa: E402, F401
