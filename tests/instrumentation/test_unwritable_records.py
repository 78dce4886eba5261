"""An unwritable records folder never fails the user's AI call: the record is dropped and counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

import ai_usage_monitor
from ai_usage_monitor.recorder import get_recorder, set_recorder
from ai_usage_monitor.state import set_active_settings
from tests.support.records import read_records


@pytest.fixture
def blocked_records_dir(tmp_path: Path) -> Any:
    blocker = tmp_path / "records"
    blocker.write_text("a file where the records folder should be")  # mkdir fails, even for root
    # internal errors are raised in the project's tests: a dropped record must not count as one
    ai_usage_monitor.instrument(records_dir=blocker / "ai_usage", raise_internal_errors=True)
    yield blocker
    ai_usage_monitor.uninstrument()
    previous = set_recorder(None)
    if previous is not None:
        previous.close()
    set_active_settings(None)


def test_call_returns_and_dropped_counter_rises(blocked_records_dir: Path, fake_provider: Any) -> None:
    client = openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="t", max_retries=0)
    messages: Any = [{"role": "user", "content": "[[fake prompt_tokens=10 completion_tokens=2]]"}]
    for expected_dropped in (1, 2):
        response = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert response.usage is not None and response.usage.prompt_tokens == 10
        assert get_recorder().dropped == expected_dropped
    blocked_records_dir.unlink()  # the folder becomes writable: writing resumes by itself
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert get_recorder().dropped == 2
    assert len(read_records(blocked_records_dir / "ai_usage")) == 1
