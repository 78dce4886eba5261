"""The page's status line says how many usage records were not written, once there are any."""

from __future__ import annotations

import math
from pathlib import Path

from ai_usage_monitor import record_ai_usage
from ai_usage_monitor.config import Settings
from ai_usage_monitor.internal import set_raise_internal_errors
from ai_usage_monitor.recorder import Recorder, set_recorder
from tests.dashboard.conftest import Watched
from tests.dashboard.support import PAGE
from tests.support.servers import serve_monitor

DROPS = '[data-testid="records-dropped"]'


def test_status_line_shows_dropped_records(watched: Watched, tmp_path: Path) -> None:
    settings = Settings(records_dir=tmp_path / "records", timezone="Asia/Shanghai", tail_interval=0.1)
    recorder = Recorder(settings)
    previous = set_recorder(recorder)
    set_raise_internal_errors(False)
    page = watched.page
    try:
        record_ai_usage(model="qwen-plus", input_tokens=10, output_tokens=2)
        with serve_monitor(settings) as base:
            page.goto(f"{base}{PAGE}?refresh=1")
            page.wait_for_selector("body[data-ready=true]")
            assert page.is_hidden(DROPS)

            for _ in range(2):  # refused: not a number
                record_ai_usage(model="qwen-plus", input_tokens=10, output_tokens=2, duration_ms=math.nan)
            recorder.exporter.ledger.flush()
            page.wait_for_selector(DROPS, state="visible", timeout=8000)
            assert page.text_content(DROPS) == "2 usage records not written"
            title = page.get_attribute(DROPS, "title") or ""
            assert "invalid duration_ms: nan" in title and "invalid 2" in title
            assert watched.console_errors == []
    finally:
        set_raise_internal_errors(True)
        set_recorder(previous)
        recorder.close()
