"""Snapshot-name normalisation: dated suffixes are stripped, everything else is left alone."""

from __future__ import annotations

import pytest

from ai_usage_monitor.pricing.matching import candidate_names, normalise_provider, strip_snapshot_suffix


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("qwen-plus-2025-07-14", "qwen-plus"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("qwen-max-0919", "qwen-max"),
        ("gpt-4-0613", "gpt-4"),
        ("qwen-plus-latest", "qwen-plus"),
        ("qwen-max-0229", "qwen-max"),
    ],
)
def test_dated_suffixes_are_stripped(name: str, base: str) -> None:
    assert strip_snapshot_suffix(name) == base


@pytest.mark.parametrize(
    "name",
    [
        "qwen-plus",
        "qwen-plus-character",  # a different model, not a snapshot of qwen-plus
        "qwen2.5-72b-instruct",
        "gpt-4-1106-preview",
        "model-2048",  # not a month and day
        "qwen-max-1399",
        "gpt-4o-2024-13-01",  # not a date
        "latest",
        "2024-08-06",
    ],
)
def test_other_names_are_left_alone(name: str) -> None:
    assert strip_snapshot_suffix(name) is None


def test_candidates_are_exact_first_then_base() -> None:
    assert candidate_names(" Qwen-Plus-2025-07-14 ") == ("qwen-plus-2025-07-14", "qwen-plus")
    assert candidate_names("qwen-plus-character") == ("qwen-plus-character",)


def test_provider_aliases() -> None:
    assert normalise_provider("DashScope") == "dashscope"
    assert normalise_provider("bailian") == "dashscope"
    assert normalise_provider("azure.ai.openai") == "azure"
    assert normalise_provider("openai") == "openai"
