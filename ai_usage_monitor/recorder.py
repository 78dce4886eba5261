"""The hot path after a call: price it, stamp who it was for, hand the record to every sink.

One ``Recorder`` per process holds the settings, the pricer and the JSONL exporter; ``instrument()``
replaces it, and the instrumentation's wrappers look it up at call time, so re-configuring never
re-patches anything.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ai_usage_monitor.config import Settings
from ai_usage_monitor.context import current_context, current_frame
from ai_usage_monitor.exporter.jsonl import JsonlExporter
from ai_usage_monitor.identity import host_name, resolve_service
from ai_usage_monitor.internal import handle_internal_error, set_raise_internal_errors
from ai_usage_monitor.records import MAX_TIMESTAMP, UsageRecord, validate_record
from ai_usage_monitor.state import active_settings

if TYPE_CHECKING:
    from ai_usage_monitor.budgets.guard import BudgetGuard
    from ai_usage_monitor.pricing import Pricer

__all__ = ["Recorder", "get_recorder", "guess_provider", "record_ai_usage", "set_recorder"]

logger = logging.getLogger("ai_usage_monitor")

Sink = Callable[[UsageRecord], None]

#: A ``timestamp`` given to ``record_ai_usage`` in ``[1e11, 1e14)`` is taken as milliseconds.
_MAX_MILLISECONDS = 1e14
#: Fields whose bad values were logged already: one line per kind, not per call.
_logged_invalid: set[str] = set()


class Recorder:
    """Prices records and passes them to the JSONL exporter and any extra sinks (e.g. a budget guard)."""

    def __init__(self, settings: Settings, *, strict_pricing: bool = True) -> None:
        """``strict_pricing=False``: a pricing file that cannot be loaded is logged and calls go unpriced by
        it, rather than failing (for a recorder built on first use, where nobody could handle the error)."""
        from ai_usage_monitor.pricing import get_pricer

        self.settings = settings
        try:
            self.pricer: Pricer = get_pricer(settings)
        except Exception as exc:
            if strict_pricing or settings.pricing_file is None:
                raise
            handle_internal_error(f"loading the pricing file {settings.pricing_file}", exc)
            self.pricer = get_pricer(settings.model_copy(update={"pricing_file": None}))
        self.exporter = JsonlExporter(settings.records_dir, settings.tz, fsync=settings.fsync == "always")
        self.sinks: list[Sink] = []
        #: stamped on records that do not name theirs; the service is resolved at the first record, so an
        #: OpenTelemetry SDK the app sets up after ``instrument()`` still names it
        self.service: str | None = None
        self.host = host_name()
        #: the pre-call budget guard; ``None`` without budgets (the hot path then checks only this)
        self.guard: BudgetGuard | None = None
        if settings.budgets:
            from ai_usage_monitor.budgets.guard import BudgetGuard

            self.guard = BudgetGuard(settings, self.pricer)

    @property
    def dropped(self) -> int:
        """Records that were not written (unwritable folder, full disk, bad numbers)."""
        return self.exporter.dropped

    def price(self, record: UsageRecord, *, thinking: bool = False) -> None:
        """Fill ``cost``, ``currency``, ``priced`` and ``price_ref`` from the catalogue."""
        pricer = self.pricer
        record.cost, record.price_ref = pricer.cost(
            record.provider,
            record.response_model or record.model,  # the dated snapshot, when known, is the exact name
            record.input_tokens,
            record.output_tokens,
            cached_tokens=record.cached_tokens,
            reasoning_tokens=record.reasoning_tokens,
            cache_write_tokens=record.cache_write_tokens,
            thinking=thinking,
            at=record.timestamp,
        )
        record.currency = pricer.currency
        record.priced = record.price_ref is not None

    def emit(self, record: UsageRecord) -> None:
        """Write the record unless it holds bad numbers (then it is dropped as ``invalid``); sinks' failures
        are the monitor's, never the caller's."""
        if record.service is None:
            record.service = self.service or self._resolve_service()
        if record.host is None:
            record.host = self.host
        problem = validate_record(record)
        if problem is not None:
            self._refuse(record, problem)
            return
        try:
            self.exporter.export(record)
        except Exception as exc:
            handle_internal_error("writing a record", exc)
        for sink in self.sinks:
            try:
                sink(record)
            except Exception as exc:
                handle_internal_error(f"sink {sink!r}", exc)

    def _resolve_service(self) -> str:
        self.service = resolve_service(self.settings.service)
        return self.service

    def _refuse(self, record: UsageRecord, field: str) -> None:
        value = getattr(record, field)
        error = f"invalid {field}: {value!r}"[:200]
        if field not in _logged_invalid:
            _logged_invalid.add(field)
            logger.error(
                "ai-usage-monitor: a usage record with an invalid %s (%r, model %r) is not written; such "
                "records are counted as dropped (reason 'invalid'), further ones are not logged",
                field,
                value,
                record.model,
            )
        self.exporter.drop("invalid", error)

    def close(self) -> None:
        self.exporter.close()
        if self.guard is not None:
            self.guard.close()


_recorder: Recorder | None = None
_recorder_lock = threading.Lock()


def get_recorder() -> Recorder:
    """The process's recorder; built from the active (or default) settings on first use."""
    recorder = _recorder
    if recorder is None:
        with _recorder_lock:
            if _recorder is None:
                settings = active_settings()
                if settings is None:
                    settings = Settings()
                    set_raise_internal_errors(settings.raise_internal_errors)
                set_recorder(Recorder(settings, strict_pricing=False))
            recorder = _recorder
    assert recorder is not None
    return recorder


def set_recorder(recorder: Recorder | None) -> Recorder | None:
    """Install ``recorder`` (``None``: rebuild lazily); returns the previous one, left open."""
    global _recorder
    previous, _recorder = _recorder, recorder
    return previous


_PROVIDER_PREFIXES = (
    ("dashscope", ("qwen", "qwq", "qvq", "text-embedding-v", "deepseek-r1-distill-qwen")),
    ("openai", ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-3", "text-embedding-ada", "davinci")),
)


def guess_provider(model: str) -> str:
    """Provider of a manually reported model, by its family name (pricing itself never guesses)."""
    lowered = model.lower()
    for provider, prefixes in _PROVIDER_PREFIXES:
        if lowered.startswith(prefixes):
            return provider
    return "unknown"


def record_ai_usage(  # noqa: PLR0917 - the original doc calls it positionally
    model: str,
    function: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    duration_ms: float = 0.0,
    success: bool = True,
    anchor_id: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    error_msg: str | None = None,
    *,
    cached_tokens: int | None = 0,
    reasoning_tokens: int | None = 0,
    cache_write_tokens: int | None = None,
    provider: str | None = None,
    operation: str = "chat",
    thinking: bool = False,
    cost: float | None = None,
    timestamp: float | None = None,
    request_id: str | None = None,
    error_type: str | None = None,
    tags: Mapping[str, str] | None = None,
    source: str = "manual",
    response_model: str | None = None,
    service: str | None = None,
    host: str | None = None,
) -> UsageRecord:
    """Record one call made outside the instrumented clients; the usage context fills what is not given.

    ``cost`` overrides the catalogue price (``priced`` is then true, ``price_ref`` ``"manual"``).
    ``response_model``: the name the provider answered with, kept (and priced) when it differs from ``model``.
    ``service`` / ``host``: this record's app and machine, instead of the process's (docs/architecture.md §4).
    """
    ctx = current_context()
    frame = current_frame()
    if frame is not None:
        frame.count()
    try:
        record = UsageRecord(
            timestamp=_start_time(timestamp, duration_ms),
            user_id=user_id if user_id is not None else ctx.user_id,
            anchor_id=anchor_id if anchor_id is not None else ctx.anchor_id,
            session_id=session_id if session_id is not None else ctx.session_id,
            model=model,
            function=function if function is not None else ctx.function,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=_sum(input_tokens, output_tokens),
            duration_ms=duration_ms,
            success=success,
            error_msg=error_msg,
            provider=provider or guess_provider(str(response_model or model)),
            operation=operation,
            cached_tokens=cached_tokens,
            reasoning_tokens=reasoning_tokens,
            cache_write_tokens=cache_write_tokens,
            request_id=request_id,
            source=source,
            tags={**ctx.tags, **tags} if tags else dict(ctx.tags),
            error_type=error_type,
            usage_missing=input_tokens is None or output_tokens is None,
            response_model=response_model if response_model != model else None,
            service=service,
            host=host,
        )
        recorder = get_recorder()
    except Exception as exc:
        handle_internal_error("record_ai_usage", exc)
        return UsageRecord(timestamp=time.time(), model=str(model))
    try:
        if cost is None:
            recorder.price(record, thinking=thinking)
        else:
            record.cost, record.priced, record.price_ref = _number(cost), True, "manual"
            record.currency = recorder.settings.currency
    except Exception as exc:
        handle_internal_error("pricing", exc)
    # counted before it is written: a period's first count reads the records already written (seeding)
    if recorder.guard is not None:
        try:
            recorder.guard.add(record)
        except Exception as exc:
            handle_internal_error("counting a record toward budgets", exc)
    recorder.emit(record)
    return record


def _start_time(timestamp: float | None, duration_ms: float) -> float:
    """The call's start: now minus its duration, or ``timestamp`` (milliseconds when in ``[1e11, 1e14)``)."""
    if timestamp is None:
        duration = _number(duration_ms)
        now = time.time()
        return now - duration / 1000.0 if 0.0 <= duration < now * 1000.0 else now
    if isinstance(timestamp, (int, float)) and MAX_TIMESTAMP <= timestamp < _MAX_MILLISECONDS:
        return timestamp / 1000.0
    return timestamp


def _number(value: object) -> float:
    """``value`` as a float; NaN (refused on write) when it is not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _sum(a: int | None, b: int | None) -> int | None:
    """Total tokens, or ``None`` when either is unknown (or not a count: the record is refused then)."""
    if a is None or b is None:
        return None
    try:
        return a + b
    except TypeError:
        return None
