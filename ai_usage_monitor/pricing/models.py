"""Price data types: a dated, tiered price entry and the quote the hot path gets back (architecture §10)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

__all__ = [
    "ANY_PROVIDER",
    "CURRENCIES",
    "EPOCH",
    "TIER_PRICE_FIELDS",
    "UNITS",
    "PriceEntry",
    "PriceQuote",
    "Tier",
    "index_entries",
]

#: Units a price may be quoted per: "1K" tokens (DashScope's habit) or "1M" tokens (most others).
UNITS: dict[str, int] = {"1K": 1_000, "1M": 1_000_000}
CURRENCIES = frozenset({"CNY", "USD"})
#: The effective-from date of prices that have no known start: in force for all of history.
EPOCH = date(1970, 1, 1)
#: The provider of entries that match a model name whichever provider served it.
ANY_PROVIDER = "*"
_SECONDS_PER_DAY = 86_400
#: The prices a tier may carry, in the order the data files document them.
TIER_PRICE_FIELDS = (
    "input",
    "output",
    "cached_input",
    "thinking_output",
    "cache_creation_input",
    "explicit_cached_input",
)


@dataclass(frozen=True, slots=True)
class PriceQuote:
    cost: float  # in the configured currency (Settings.currency), unrounded
    currency: str
    priced: bool
    price_ref: str | None  # e.g. "dashscope/qwen-plus@2025-09-01#tier0"


@dataclass(frozen=True, slots=True)
class Tier:
    """Prices for requests up to ``max_input_tokens`` input tokens (``None``: no upper bound).

    Prices are in the entry's currency per the entry's unit of tokens. ``cached_input`` defaults to
    ``input`` (no discount); ``thinking_output`` to ``output`` (no thinking surcharge);
    ``cache_creation_input`` (input tokens written to a prompt cache) to ``input``;
    ``explicit_cached_input`` (hits on an explicitly created cache) to ``cached_input``.
    """

    max_input_tokens: int | None
    input: float
    output: float
    cached_input: float | None = None
    thinking_output: float | None = None
    cache_creation_input: float | None = None
    explicit_cached_input: float | None = None

    def __post_init__(self) -> None:
        if self.max_input_tokens is not None and (
            isinstance(self.max_input_tokens, bool)
            or not isinstance(self.max_input_tokens, int)
            or self.max_input_tokens <= 0
        ):
            raise ValueError(f"max_input_tokens: expected a positive integer, got {self.max_input_tokens!r}")
        for name in TIER_PRICE_FIELDS:
            value = getattr(self, name)
            if value is None and name not in ("input", "output"):
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{name}: expected a non-negative number, got {value!r}")

    @property
    def cached_price(self) -> float:
        return self.input if self.cached_input is None else self.cached_input

    @property
    def explicit_cached_price(self) -> float:
        return self.cached_price if self.explicit_cached_input is None else self.explicit_cached_input

    @property
    def cache_write_price(self) -> float:
        return self.input if self.cache_creation_input is None else self.cache_creation_input

    def output_price(self, thinking: bool) -> float:
        return self.thinking_output if thinking and self.thinking_output is not None else self.output


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One model's prices from one source, in force from ``effective_from`` until a later entry.

    ``origin`` says which layer it comes from (``registered``, ``override``, ``dashscope``,
    ``genai-prices``) and starts the ``price_ref`` written into every record priced with it.
    ``daily_window`` (seconds after UTC midnight, ``[start, end)``, may wrap) restricts an entry to a
    time of day, as genai-prices does for DeepSeek's peak/off-peak prices. ``batch`` is the fraction of
    the price batch calls pay; ``read_on`` the day the figures were read from ``source``.
    """

    provider: str
    model: str
    currency: str
    unit: int
    tiers: tuple[Tier, ...]
    effective_from: date
    source: str
    origin: str
    daily_window: tuple[int, int] | None = None
    batch: float | None = None
    read_on: date | None = None
    note: str = ""
    effective_ts: float = field(init=False, repr=False, compare=False)
    refs: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.currency not in CURRENCIES:
            raise ValueError(f"currency: expected one of {sorted(CURRENCIES)}, got {self.currency!r}")
        if self.unit not in UNITS.values():
            raise ValueError(f"unit: expected one of {sorted(UNITS.values())} tokens, got {self.unit!r}")
        if not self.tiers:
            raise ValueError("tiers: at least one tier is needed")
        _check_tier_order(self.tiers)
        if self.batch is not None and (
            isinstance(self.batch, bool) or not isinstance(self.batch, int | float) or not 0 < self.batch <= 1
        ):
            raise ValueError(f"batch: expected a fraction of the price in (0, 1], got {self.batch!r}")
        if self.daily_window is not None:
            start, end = self.daily_window
            if not (0 <= start < _SECONDS_PER_DAY and 0 <= end < _SECONDS_PER_DAY) or start == end:
                raise ValueError(
                    f"daily_window: expected two different times of day, got {self.daily_window!r}"
                )
        object.__setattr__(self, "effective_ts", _timestamp(self.effective_from))
        object.__setattr__(self, "refs", self._make_refs())

    def _make_refs(self) -> tuple[str, ...]:
        scope = "" if self.provider in (ANY_PROVIDER, self.origin) else f"{self.provider}/"
        stamp = "undated" if self.effective_from == EPOCH else self.effective_from.isoformat()
        base = f"{self.origin}/{scope}{self.model}@{stamp}"
        if self.daily_window is not None:
            start, end = self.daily_window
            base += f"~{_clock(start)}-{_clock(end)}Z"
        if len(self.tiers) == 1:
            return (base,)
        return tuple(f"{base}#tier{i}" for i in range(len(self.tiers)))

    def in_force(self, ts: float) -> bool:
        """Whether this entry applies to a call made at Unix time ``ts`` (date and time-of-day rules)."""
        if ts < self.effective_ts:
            return False
        if self.daily_window is None:
            return True
        start, end = self.daily_window
        second = ts % _SECONDS_PER_DAY
        return start <= second < end if start <= end else (second >= start or second < end)

    def tier_index(self, input_tokens: int) -> int:
        """The tier a request with this many input tokens bills at (all of it, not just the excess)."""
        tiers = self.tiers
        last = len(tiers) - 1
        for i in range(last):
            limit = tiers[i].max_input_tokens
            if limit is not None and input_tokens <= limit:
                return i
        return last


def _check_tier_order(tiers: tuple[Tier, ...]) -> None:
    previous = 0
    for i, tier in enumerate(tiers):
        limit = tier.max_input_tokens
        if limit is None:
            if i != len(tiers) - 1:
                raise ValueError(f"tiers[{i}].max_input_tokens: only the last tier may leave it out")
            continue
        if limit <= previous:
            raise ValueError(
                f"tiers[{i}].max_input_tokens: must exceed the previous tier's ({previous}), got {limit}"
            )
        previous = limit


def _timestamp(moment: date) -> float:
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp()


def _clock(second_of_day: int) -> str:
    return f"{second_of_day // 3600:02d}:{second_of_day % 3600 // 60:02d}"


def index_entries(entries: Iterable[PriceEntry]) -> dict[tuple[str, str], tuple[PriceEntry, ...]]:
    """Group entries by ``(provider, model)``, each group ordered by effective date (oldest first).

    Of entries from the same date, those limited to a time of day come last, so that a look-up from the
    newest end finds an off-peak price before the all-day price it overrides.
    """
    groups: dict[tuple[str, str], list[PriceEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.provider, entry.model), []).append(entry)
    return {
        key: tuple(sorted(group, key=lambda e: (e.effective_ts, e.daily_window is not None)))
        for key, group in groups.items()
    }
