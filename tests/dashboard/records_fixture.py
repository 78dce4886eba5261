"""A known set of records for the dashboard tests, and what the page must show for them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from ai_usage_monitor.records import UsageRecord

__all__ = ["SCRIPT_FUNCTION", "TIMEZONE", "TODAY_EXPECTED", "XSS_ANCHOR", "XSS_USER", "known_records"]

TIMEZONE = "Asia/Shanghai"
SCRIPT_FUNCTION = "<script>alert(1)</script>"
XSS_USER = "<img src=x onerror=alert(2)>"
XSS_ANCHOR = '"><svg onload=alert(3)>'

#: today's KPI card as the page must print it for ``known_records()``
TODAY_EXPECTED = {"cost": "¥0.0176", "calls": "5", "tokens": "4,565", "success_rate": "80%"}


class _Call(NamedTuple):
    """A priced DashScope call unless ``extra`` says otherwise; its total tokens are input plus output."""

    user_id: str
    anchor_id: str
    model: str
    function: str
    input_tokens: int
    output_tokens: int
    cost: float
    duration_ms: float
    session_id: str | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    extra: Mapping[str, object] = {}

    def record(self, timestamp: float) -> UsageRecord:
        fields: dict[str, Any] = {"provider": "dashscope", "priced": True, "source": "dashscope"}
        fields.update(self._asdict(), total_tokens=self.input_tokens + self.output_tokens)
        fields.update(fields.pop("extra"))
        return UsageRecord(timestamp=timestamp, **fields)


_OPENAI = {"provider": "openai", "source": "openai"}
_FAILED = {"success": False, "error_type": "RateLimitError", "error_msg": "429 <b>rate limited</b>"}
_UNPRICED_OPENAI = {**_OPENAI, "priced": False}

#: five calls a second apart in the current clock hour: one failed, one unpriced
_THIS_HOUR = (
    _Call("user_001", "anchor_A", "qwen-plus", "实时分析", 2000, 700, 0.0123, 800.0, "s1", 500, 0),
    _Call("user_002", "anchor_B", "qwen-max", "话术生成", 1000, 300, 0.00528, 1500.0, "s2", 0, 100),
    _Call("user_001", "anchor_A", "gpt-4o-mini", "话术生成", 10, 5, 0.00002, 300.0, "s1", 0, 0, _OPENAI),
    _Call(XSS_USER, XSS_ANCHOR, "qwen-turbo", SCRIPT_FUNCTION, 400, 0, 0.0, 120.0, "s3", 0, 0, _FAILED),
    _Call("user_003", "anchor_B", "local-llm", "实时分析", 100, 50, 0.0, 200.0, "s4", extra=_UNPRICED_OPENAI),
)
#: one call at noon this many days ago
_EARLIER = {
    1: _Call("user_002", "anchor_A", "qwen-plus", "实时分析", 900_000, 300_000, 1.32, 900.0),
    3: _Call("user_004", "anchor_C", "qwen-max", "话术生成", 500_000, 100_000, 2.16, 2100.0),
    12: _Call("user_001", "anchor_A", "qwen-turbo", "实时分析", 2_000_000, 400_000, 0.84, 400.0),
}


def known_records(now: float | None = None) -> list[UsageRecord]:
    """Five calls in the current clock hour (one failed, one unpriced) and three on earlier days."""
    now = time.time() if now is None else now
    tz = ZoneInfo(TIMEZONE)
    local_now = datetime.fromtimestamp(now, tz)
    hour_start = local_now.replace(minute=0, second=0, microsecond=0).timestamp()
    base = max(hour_start + 0.5, now - 60)
    noon = local_now.replace(hour=12, minute=0, second=0, microsecond=0)
    return [call.record(base + second) for second, call in enumerate(_THIS_HOUR)] + [
        call.record((noon - timedelta(days=days)).timestamp()) for days, call in _EARLIER.items()
    ]
