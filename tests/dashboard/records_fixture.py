"""A known set of records for the dashboard tests, and what the page must show for them."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ai_usage_monitor.records import UsageRecord

__all__ = ["SCRIPT_FUNCTION", "TIMEZONE", "TODAY_EXPECTED", "XSS_ANCHOR", "XSS_USER", "known_records"]

TIMEZONE = "Asia/Shanghai"
SCRIPT_FUNCTION = "<script>alert(1)</script>"
XSS_USER = "<img src=x onerror=alert(2)>"
XSS_ANCHOR = '"><svg onload=alert(3)>'

#: today's KPI card as the page must print it for ``known_records()``
TODAY_EXPECTED = {"cost": "¥0.0176", "calls": "5", "tokens": "4,565", "success_rate": "80%"}


def _record(timestamp: float, **fields: object) -> UsageRecord:
    defaults: dict[str, object] = {"provider": "dashscope", "priced": True, "source": "dashscope"}
    return UsageRecord(timestamp=timestamp, **{**defaults, **fields})


def known_records(now: float | None = None) -> list[UsageRecord]:
    """Five calls in the current clock hour (one failed, one unpriced) and three on earlier days."""
    now = time.time() if now is None else now
    tz = ZoneInfo(TIMEZONE)
    local_now = datetime.fromtimestamp(now, tz)
    hour_start = local_now.replace(minute=0, second=0, microsecond=0).timestamp()
    base = max(hour_start + 0.5, now - 60)
    noon = local_now.replace(hour=12, minute=0, second=0, microsecond=0)
    return [
        _record(
            base,
            user_id="user_001",
            anchor_id="anchor_A",
            session_id="s1",
            model="qwen-plus",
            function="实时分析",
            input_tokens=2000,
            output_tokens=700,
            total_tokens=2700,
            cached_tokens=500,
            reasoning_tokens=0,
            cost=0.0123,
            duration_ms=800.0,
        ),
        _record(
            base + 1,
            user_id="user_002",
            anchor_id="anchor_B",
            session_id="s2",
            model="qwen-max",
            function="话术生成",
            input_tokens=1000,
            output_tokens=300,
            total_tokens=1300,
            cached_tokens=0,
            reasoning_tokens=100,
            cost=0.00528,
            duration_ms=1500.0,
        ),
        _record(
            base + 2,
            user_id="user_001",
            anchor_id="anchor_A",
            session_id="s1",
            model="gpt-4o-mini",
            provider="openai",
            source="openai",
            function="话术生成",
            input_tokens=10,
            output_tokens=5,
            total_tokens=15,
            cached_tokens=0,
            reasoning_tokens=0,
            cost=0.00002,
            duration_ms=300.0,
        ),
        _record(
            base + 3,
            user_id=XSS_USER,
            anchor_id=XSS_ANCHOR,
            session_id="s3",
            model="qwen-turbo",
            function=SCRIPT_FUNCTION,
            input_tokens=400,
            output_tokens=0,
            total_tokens=400,
            cached_tokens=0,
            reasoning_tokens=0,
            cost=0.0,
            duration_ms=120.0,
            success=False,
            error_type="RateLimitError",
            error_msg="429 <b>rate limited</b>",
        ),
        _record(
            base + 4,
            user_id="user_003",
            anchor_id="anchor_B",
            session_id="s4",
            model="local-llm",
            provider="openai",
            source="openai",
            function="实时分析",
            input_tokens=100,
            output_tokens=50,
            total_tokens=150,
            cost=0.0,
            priced=False,
            duration_ms=200.0,
        ),
        _record(
            (noon - timedelta(days=1)).timestamp(),
            user_id="user_002",
            anchor_id="anchor_A",
            model="qwen-plus",
            function="实时分析",
            input_tokens=900_000,
            output_tokens=300_000,
            total_tokens=1_200_000,
            cost=1.32,
            duration_ms=900.0,
        ),
        _record(
            (noon - timedelta(days=3)).timestamp(),
            user_id="user_004",
            anchor_id="anchor_C",
            model="qwen-max",
            function="话术生成",
            input_tokens=500_000,
            output_tokens=100_000,
            total_tokens=600_000,
            cost=2.16,
            duration_ms=2100.0,
        ),
        _record(
            (noon - timedelta(days=12)).timestamp(),
            user_id="user_001",
            anchor_id="anchor_A",
            model="qwen-turbo",
            function="实时分析",
            input_tokens=2_000_000,
            output_tokens=400_000,
            total_tokens=2_400_000,
            cost=0.84,
            duration_ms=400.0,
        ),
    ]
