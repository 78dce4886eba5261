"""Records written the way the recorder writes them, and the hand aggregations the store must equal."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from ai_usage_monitor.config import Settings
from ai_usage_monitor.records import UsageRecord

MODELS = ("qwen-plus", "qwen-max", "gpt-4o", "未定价-model")
FUNCTIONS = ("实时分析", "话术生成", None)
USERS = ("user_001", "user_002", "用户三", None)


def settings_for(tmp: Path, timezone: str = "Asia/Shanghai", **extra: Any) -> Settings:
    return Settings(records_dir=tmp / "records", timezone=timezone, tail_interval=0.05, **extra)


def make_records(n: int, start: float, end: float, seed: int = 7) -> list[UsageRecord]:
    """``n`` varied records with timestamps in ``[start, end)``: failures, unpriced calls, unknown tokens."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        model = rnd.choice(MODELS)
        success = rnd.random() > 0.15
        tokens_known = rnd.random() > 0.1
        inp = rnd.randint(1, 5000) if tokens_known else None
        outp = rnd.randint(0, 2000) if tokens_known else None
        priced = tokens_known and not model.startswith("未定价")
        out.append(
            UsageRecord(
                timestamp=round(rnd.uniform(start, end), 3),
                user_id=rnd.choice(USERS),
                anchor_id=rnd.choice(("anchor_1", "anchor_2", None)),
                session_id=f"session_{i % 7}",
                model=model,
                function=rnd.choice(FUNCTIONS),
                input_tokens=inp,
                output_tokens=outp,
                total_tokens=None if inp is None or outp is None else inp + outp,
                cached_tokens=rnd.choice((0, 10, None)),
                reasoning_tokens=rnd.choice((0, 5, None)),
                cost=round(rnd.uniform(0, 0.05), 6) if priced else 0.0,
                duration_ms=round(rnd.uniform(5, 90_000), 1),
                success=success,
                error_msg=None if success else "boom",
                error_type=None if success else rnd.choice(("RateLimitError", None)),
                provider="openai" if model.startswith("gpt") else "dashscope",
                priced=priced,
                usage_missing=not tokens_known,
            )
        )
    return out


def tokens(r: UsageRecord) -> int:
    if r.total_tokens is not None:
        return r.total_tokens
    return (r.input_tokens or 0) + (r.output_tokens or 0)


def rate(ok: int, calls: int) -> float:
    return 100.0 if calls == 0 else ok * 100.0 / calls


def in_range(records: Iterable[UsageRecord], start: float, end: float) -> list[UsageRecord]:
    return [r for r in records if start <= r.timestamp < end]


def group(records: Iterable[UsageRecord], key: Callable[[UsageRecord], Any]) -> dict[Any, dict[str, Any]]:
    """calls / successes / tokens / input / output / cost per ``key`` value, by hand."""
    acc: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "ok": 0, "tokens": 0, "input": 0, "output": 0, "cost": 0.0}
    )
    for r in records:
        a = acc[key(r)]
        a["calls"] += 1
        a["ok"] += r.success
        a["tokens"] += tokens(r)
        a["input"] += r.input_tokens or 0
        a["output"] += r.output_tokens or 0
        a["cost"] += r.cost
    return dict(acc)


def daily_costs(records: Iterable[UsageRecord], tz: tzinfo) -> dict[date, float]:
    out: dict[date, float] = defaultdict(float)
    for r in records:
        out[datetime.fromtimestamp(r.timestamp, tz).date()] += r.cost
    return dict(out)
