"""record_ai_usage and track_ai_usage on their own (no SDK): fields, context, pricing, decorator rules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ai_usage_monitor import record_ai_usage, track_ai_usage, usage_context
from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import get_pricer
from ai_usage_monitor.recorder import Recorder, set_recorder
from tests.support.records import read_records


@pytest.fixture
def records_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    recorder = Recorder(Settings(records_dir=tmp_path, timezone="Asia/Shanghai", raise_internal_errors=True))
    previous = set_recorder(recorder)
    yield tmp_path
    set_recorder(previous)
    recorder.close()


def test_original_signature_and_context(records_dir: Path) -> None:
    with usage_context(user_id="ctx-user", session_id="ctx-session"):
        record_ai_usage(
            model="qwen-plus",
            function="实时分析",
            input_tokens=2000,
            output_tokens=700,
            duration_ms=1234.5,
            success=True,
            anchor_id="anchor_123",
            session_id="session_456",
        )
    [rec] = read_records(records_dir)
    assert rec["user_id"] == "ctx-user"  # from the context
    assert rec["session_id"] == "session_456"  # explicit beats context
    assert rec["anchor_id"] == "anchor_123"
    assert (rec["input_tokens"], rec["output_tokens"], rec["total_tokens"]) == (2000, 700, 2700)
    assert rec["provider"] == "dashscope" and rec["source"] == "manual"
    assert rec["priced"] is True and rec["currency"] == "CNY"
    # docs/architecture.md §10: qwen-plus tier 0 is 0.0008 in / 0.002 out CNY per 1K tokens
    assert rec["cost"] == pytest.approx(2000 / 1000 * 0.0008 + 700 / 1000 * 0.002)
    assert rec["duration_ms"] == 1234.5


def test_unknown_model_is_unpriced_not_free(records_dir: Path) -> None:
    record_ai_usage(model="house-llm-7b", function="x", input_tokens=10, output_tokens=5)
    [rec] = read_records(records_dir)
    assert rec["priced"] is False and rec["cost"] == 0 and rec["price_ref"] is None


def test_failure_and_explicit_cost(records_dir: Path) -> None:
    record_ai_usage(
        model="qwen-max", function="f", input_tokens=1, output_tokens=0, success=False, error_msg="boom"
    )
    record_ai_usage(model="qwen-max", function="f", input_tokens=1, output_tokens=1, cost=0.5)
    failed, manual = read_records(records_dir)
    assert failed["success"] is False and failed["error_msg"] == "boom"
    assert manual["cost"] == 0.5 and manual["price_ref"] == "manual"


def _openai_shaped(prompt: int, completion: int) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def test_decorator_reads_usage_when_nothing_instrumented(records_dir: Path) -> None:
    @track_ai_usage("话术生成", "qwen-plus")
    def raw_http_call() -> dict[str, Any]:
        return {"usage": {"input_tokens": 300, "output_tokens": 40}}

    @track_ai_usage("分析", "qwen-turbo")
    async def raw_async() -> dict[str, Any]:
        return _openai_shaped(100, 10)

    @track_ai_usage("流式", "qwen-plus")
    def raw_stream():  # type: ignore[no-untyped-def]
        yield {"usage": {"input_tokens": 50, "output_tokens": 1}}
        yield {"usage": {"input_tokens": 50, "output_tokens": 9}}  # cumulative: the last one counts

    raw_http_call()
    asyncio.run(raw_async())
    assert len(list(raw_stream())) == 2
    first, second, third = read_records(records_dir)
    assert (first["function"], first["model"], first["input_tokens"], first["output_tokens"]) == (
        "话术生成",
        "qwen-plus",
        300,
        40,
    )
    assert first["source"] == "decorator" and first["provider"] == "dashscope"
    # grouped under the model the code names; the one the response names is kept as a detail
    assert (second["model"], second["response_model"], second["input_tokens"]) == (
        "qwen-turbo",
        "gpt-4o-mini",
        100,
    )
    assert (third["function"], third["output_tokens"]) == ("流式", 9)


def test_decorator_failure_propagates_and_records_once(records_dir: Path) -> None:
    class Boom(RuntimeError):
        pass

    calls = 0

    @track_ai_usage("实时分析", "qwen-plus")
    def failing() -> None:
        nonlocal calls
        calls += 1
        raise Boom("upstream timeout")

    with pytest.raises(Boom):
        failing()
    assert calls == 1
    [rec] = read_records(records_dir)
    assert rec["success"] is False and rec["error_msg"] == "upstream timeout"
    assert rec["error_type"] == "Boom"
    assert rec["input_tokens"] is None and rec["usage_missing"] is True


def test_decorator_does_not_double_count_manual_records(records_dir: Path) -> None:
    @track_ai_usage("实时分析", "qwen-plus")
    def reports_itself() -> dict[str, Any]:
        record_ai_usage(model="qwen-plus", input_tokens=5, output_tokens=5)
        return {"usage": {"input_tokens": 5, "output_tokens": 5}}

    reports_itself()
    [rec] = read_records(records_dir)
    assert rec["function"] == "实时分析"  # attributed to the decorator's function


def test_pricer_matches_record_cost(records_dir: Path) -> None:
    rec = record_ai_usage(model="qwen-turbo", input_tokens=12345, output_tokens=678)
    quote = get_pricer(Settings(records_dir=records_dir)).quote(
        provider="dashscope", model="qwen-turbo", input_tokens=12345, output_tokens=678
    )
    assert rec.cost == pytest.approx(quote.cost) and rec.price_ref == quote.price_ref


def test_decorator_records_an_error_the_response_returns(records_dir: Path) -> None:
    @track_ai_usage("实时分析", "qwen-plus")
    def raw_dashscope_error() -> dict[str, Any]:
        return {"status_code": 429, "code": "Throttling.RateQuota", "message": "slow down", "usage": None}

    raw_dashscope_error()
    [rec] = read_records(records_dir)
    assert rec["success"] is False and rec["error_msg"] == "slow down"
    assert rec["error_type"] == "Throttling.RateQuota"
    assert rec["input_tokens"] is None and rec["usage_missing"] is True


def test_decorator_reads_anthropic_messages_and_stream_events(records_dir: Path) -> None:
    message = {
        "type": "message",
        "id": "msg_1",
        "model": "claude-haiku-4-5",
        "usage": {
            "input_tokens": 21,
            "cache_read_input_tokens": 1800,
            "cache_creation_input_tokens": 300,
            "output_tokens": 50,
        },
    }

    @track_ai_usage("摘要", "claude-haiku-4-5", provider="anthropic")
    def raw_message() -> dict[str, Any]:
        return message

    @track_ai_usage("摘要", "claude-haiku-4-5", provider="anthropic")
    def raw_events():  # type: ignore[no-untyped-def]
        yield {
            "type": "message_start",
            "message": {**message, "usage": {"input_tokens": 40, "output_tokens": 1}},
        }
        yield {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "你好"}}
        yield {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 77}}

    raw_message()
    assert len(list(raw_events())) == 3
    whole, streamed = read_records(records_dir)
    # Anthropic's input_tokens leave the cache out: the record's input is all of it
    assert (whole["input_tokens"], whole["cached_tokens"], whole["cache_write_tokens"]) == (2121, 1800, 300)
    assert (whole["output_tokens"], whole["provider"], whole["priced"]) == (50, "anthropic", True)
    assert (streamed["input_tokens"], streamed["output_tokens"]) == (40, 77)
