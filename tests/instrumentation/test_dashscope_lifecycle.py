"""Patching and unpatching the DashScope SDK: the original classmethod objects come back, a second
``instrument()`` re-configures without wrapping twice, and unpatched calls are not recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashscope import Application, Generation, TextEmbedding
from dashscope.aigc.generation import AioGeneration
from dashscope.aigc.multimodal_conversation import AioMultiModalConversation, MultiModalConversation

import ai_usage_monitor.instrumentation as inst
from ai_usage_monitor.instrumentation.dashscope import DashScopeUsageInstrumentor
from tests.instrumentation.dashscope_support import reset_monitor
from tests.support.records import read_records

PATCHED = (
    Generation,
    AioGeneration,
    MultiModalConversation,
    AioMultiModalConversation,
    TextEmbedding,
    Application,
)


def call_attributes() -> list[Any]:
    return [vars(cls)["call"] for cls in PATCHED]


@pytest.fixture
def clean_monitor(dashscope_fake: Any) -> Iterator[Any]:
    """No instrumentation before the test; whatever the test instrumented is undone after it."""
    assert not DashScopeUsageInstrumentor().is_instrumented_by_opentelemetry
    try:
        yield dashscope_fake
    finally:
        reset_monitor()


def test_the_instrumentor_patches_every_target_of_the_installed_sdk() -> None:
    targets = {(t.module, t.qualname) for t in DashScopeUsageInstrumentor.targets}
    assert {qualname for _, qualname in targets} == {f"{cls.__name__}.call" for cls in PATCHED}
    assert all(module.startswith("dashscope.") for module, _ in targets)


def test_uninstrument_restores_the_original_classmethod_objects(clean_monitor: Any, tmp_path: Path) -> None:
    originals = call_attributes()
    assert all(isinstance(original, classmethod) for original in originals)
    inst.instrument(records_dir=tmp_path, raise_internal_errors=True)
    patched = call_attributes()
    assert all(p is not o for p, o in zip(patched, originals, strict=True))
    assert "dashscope" in inst.instrumented_providers()

    inst.uninstrument()
    assert all(now is original for now, original in zip(call_attributes(), originals, strict=True))
    assert "dashscope" not in inst.instrumented_providers()
    response = Generation.call("qwen-plus", prompt="after uninstrument")
    assert response.status_code == 200
    assert read_records(tmp_path) == []  # no longer recorded
    assert len(clean_monitor.requests) == 1


def test_instrument_twice_records_each_call_once(clean_monitor: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    inst.instrument(records_dir=first, raise_internal_errors=True)
    patched = call_attributes()
    inst.instrument(records_dir=second, raise_internal_errors=True)  # new settings, same patches
    assert all(now is before for now, before in zip(call_attributes(), patched, strict=True))

    Generation.call("qwen-plus", prompt="once")
    assert list(Generation.call("qwen-plus", prompt="[[fake chunks=3]]", stream=True))
    assert read_records(first) == []
    assert [r["stream"] for r in read_records(second)] == [False, True]
    assert len(clean_monitor.requests) == 2


@pytest.mark.usefixtures("aio_session")
async def test_async_targets_are_restored_and_stop_recording(clean_monitor: Any, tmp_path: Path) -> None:
    inst.instrument(records_dir=tmp_path, raise_internal_errors=True)
    await AioGeneration.call("qwen-plus", prompt="recorded")
    inst.uninstrument()
    await AioGeneration.call("qwen-plus", prompt="not recorded")
    assert [r["model"] for r in read_records(tmp_path)] == ["qwen-plus"]
    assert len(clean_monitor.requests) == 2
