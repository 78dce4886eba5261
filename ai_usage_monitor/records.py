"""UsageRecord: the one data type every part of the monitor passes around (docs/architecture.md §4)."""

from __future__ import annotations

import math
import os
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

__all__ = ["MAX_TIMESTAMP", "RECORD_VERSION", "UsageRecord", "new_record_id", "validate_record"]

RECORD_VERSION = 1
#: Unix seconds below this are accepted (the year 5138); larger values are not seconds
MAX_TIMESTAMP = 1e11


#: a private generator seeded by the OS (and again in every forked child): ``uuid.uuid4()`` costs
#: several times more on the instrumented hot path, and an app seeding ``random`` must not repeat ids
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_record_id() -> str:
    """A unique id (a random UUID4's 32 hex digits) for de-duplication when files are re-read or shipped."""
    return "%032x" % (_ids.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)


@dataclass
class UsageRecord:
    """One LLM call (or one manually reported usage). Field order is the JSONL key order.

    Not slotted on purpose: orjson serialises a dataclass instance's ``__dict__`` directly, several
    times faster than walking a slotted one's fields, and this runs once per recorded call.
    """

    timestamp: float
    user_id: str | None = None
    anchor_id: str | None = None
    session_id: str | None = None
    model: str = "unknown"
    function: str | None = None
    #: includes cached tokens; ``None`` when the provider did not say
    input_tokens: int | None = None
    #: includes reasoning tokens; ``None`` when the provider did not say
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost: float = 0.0
    duration_ms: float = 0.0
    success: bool = True
    error_msg: str | None = None
    provider: str = "unknown"
    operation: str = "chat"
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    currency: str = "CNY"
    priced: bool = False
    price_ref: str | None = None
    stream: bool = False
    request_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    #: who wrote it: ``openai`` / ``dashscope`` (instrumentation), ``decorator``, ``manual``
    source: str = "manual"
    tags: dict[str, str] = field(default_factory=dict)
    record_id: str = field(default_factory=new_record_id)
    v: int = RECORD_VERSION
    #: older records only: the requested model when ``model`` held the provider's answered name; readers
    #: group such a record under this name (``model`` is the requested name since ``response_model``)
    request_model: str | None = None
    #: error class or provider code on failure (e.g. ``RateLimitError``, ``InvalidParameter``)
    error_type: str | None = None
    #: ``True`` when tokens are unknown because the provider sent no usage (docs/architecture.md §4)
    usage_missing: bool = False
    #: input tokens written to a prompt cache (Anthropic cache creation, DashScope explicit cache);
    #: included in ``input_tokens`` like ``cached_tokens``
    cache_write_tokens: int | None = None
    #: the model name the provider answered with (e.g. the dated snapshot ``gpt-4o-mini-2024-07-18``)
    #: when it differs from ``model``, the requested name; pricing prefers it as the more exact name
    response_model: str | None = None
    #: the app that made the call (the ``service`` setting, else OTel's ``service.name``, else the script
    #: name) and the machine it ran on; ``None`` in records written before these fields existed
    service: str | None = None
    host: str | None = None

    def to_json_line(self) -> bytes:
        """The record as one UTF-8 JSONL line (non-ASCII kept as is), newline included."""
        return orjson.dumps(self, option=orjson.OPT_APPEND_NEWLINE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UsageRecord:
        """Build a record from a parsed JSONL object, ignoring keys this version does not know."""
        known = {k: v for k, v in data.items() if k in _FIELD_NAMES}
        return cls(**known)


_FIELD_NAMES = frozenset(UsageRecord.__dataclass_fields__)


_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
)
_INF = math.inf


def _bad_amount(value: object) -> bool:
    """Not a finite number ≥ 0 (NaN fails every comparison, so it is caught too)."""
    cls = value.__class__
    if cls is float or cls is int:
        return not 0.0 <= value < _INF  # type: ignore[operator]
    return not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < _INF)


def validate_record(record: UsageRecord) -> str | None:
    """The first field holding a number totals must not take in, or ``None`` when the record is sound.

    The rule the writer and the index share: ``timestamp`` finite Unix seconds in ``[0, 1e11)``, ``cost``
    and ``duration_ms`` finite and ≥ 0, token counts ``None`` or an integer ≥ 0.
    """
    values = record.__dict__
    ts, cost, duration = values["timestamp"], values["cost"], values["duration_ms"]
    # the common case in one expression (floats; NaN fails every comparison), the rest in _bad_amount
    if not (
        ts.__class__ is float
        and 0.0 <= ts < MAX_TIMESTAMP
        and cost.__class__ is float
        and 0.0 <= cost < _INF
        and duration.__class__ is float
        and 0.0 <= duration < _INF
    ):
        if _bad_amount(ts) or ts >= MAX_TIMESTAMP:
            return "timestamp"
        if _bad_amount(cost):
            return "cost"
        if _bad_amount(duration):
            return "duration_ms"
    for name in _TOKEN_FIELDS:
        tokens = values[name]
        if tokens is not None and (tokens.__class__ is not int or tokens < 0):
            if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
                continue  # an int subclass (e.g. numpy's are not; IntEnum-like ones are)
            return name
    return None
