"""``instrument()`` patches an SDK the app has not imported yet when the app imports it, so it never pays
for importing SDKs the app does not use (the Anthropic one takes seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.records import read_records

_SCRIPT = """
import sys, time
import ai_usage_monitor
from ai_usage_monitor.instrumentation import instrumented_providers, uninstrument

records_dir, base_url, late_sdk = sys.argv[1], sys.argv[2], sys.argv[3]
ai_usage_monitor.instrument(records_dir=records_dir, raise_internal_errors=True)
imported = [name for name in ("openai", "dashscope", "anthropic") if name in sys.modules]
assert imported == [], imported
assert instrumented_providers() == []

import openai

assert instrumented_providers() == ["openai"], instrumented_providers()
client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

uninstrument()
__import__(late_sdk)  # imported after uninstrument(): a hook left behind must not patch it
assert instrumented_providers() == [], instrumented_providers()
"""


def test_an_sdk_imported_after_instrument_is_patched_on_import(fake_provider: Any, tmp_path: Path) -> None:
    args = [str(tmp_path), fake_provider.openai_base_url, "dashscope"]
    subprocess.run([sys.executable, "-c", _SCRIPT, *args], check=True, timeout=120)
    records = read_records(tmp_path)
    assert [(r["provider"], r["model"], r["success"]) for r in records] == [("openai", "gpt-4o-mini", True)]
