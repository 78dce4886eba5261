"""Budget settings (the ``[[budgets]]`` tables of the settings TOML) and the pure helpers over them.

A budget caps the spend of the calls its ``scope`` matches over one calendar period in the configured
time zone; see docs/budgets.md for the contract.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "ALL_VALUES",
    "SCOPE_FIELDS",
    "Budget",
    "Period",
    "PeriodClock",
    "PeriodWindow",
    "check_budget_channels",
    "parse_budgets",
    "period_window",
    "scope_value",
]

Period = Literal["hour", "day", "week", "month"]
#: record fields a scope may match on, besides ``tag.<key>``
SCOPE_FIELDS = ("provider", "model", "function", "user_id", "anchor_id", "session_id")
#: a scope value meaning "one budget per distinct value of this field"
ALL_VALUES = "*"
_TAG_PREFIX = "tag."


class Budget(BaseModel):
    """One ``[[budgets]]`` table: a limit on the spend of matching calls per calendar period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    period: Period = "day"
    limit: float = Field(ge=0, allow_inf_nan=False)
    scope: dict[str, str] = Field(default_factory=dict)
    thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)
    action: Literal["notify", "block", "downgrade"] = "notify"
    downgrade_to: str | None = None
    channels: tuple[str, ...] = ()

    @field_validator("scope")
    @classmethod
    def _known_scope_keys(cls, scope: dict[str, str]) -> dict[str, str]:
        for key, value in scope.items():
            if key not in SCOPE_FIELDS and not (key.startswith(_TAG_PREFIX) and len(key) > len(_TAG_PREFIX)):
                raise ValueError(
                    f"unknown key {key!r}: use {', '.join(SCOPE_FIELDS)} or tag.<key> "
                    f'(a value of "{ALL_VALUES}" means one budget per distinct value)'
                )
            if not value:
                raise ValueError(f"{key}: expected a value to match, or {ALL_VALUES!r}")
        return scope

    @field_validator("thresholds")
    @classmethod
    def _fractions(cls, thresholds: tuple[float, ...]) -> tuple[float, ...]:
        for value in thresholds:
            if not 0 < value <= 10:
                raise ValueError(f"expected fractions of the limit in (0, 10], got {value!r}")
        return tuple(sorted(set(thresholds)))

    @model_validator(mode="after")
    def _downgrade_needs_model(self) -> Budget:
        if self.action == "downgrade" and not self.downgrade_to:
            raise ValueError("downgrade_to: action = 'downgrade' needs the model the call is switched to")
        return self

    @property
    def per_value_keys(self) -> tuple[str, ...]:
        """The scope keys with ``"*"``: one budget per distinct combination of their values."""
        return tuple(key for key, value in self.scope.items() if value == ALL_VALUES)


def _problem(error: Mapping[str, Any]) -> str:
    """``field <name>: <reason>``; errors of the whole table already start with the field they concern."""
    reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    loc = ".".join(str(part) for part in error.get("loc", ()))
    return f"field {loc}: {reason}" if loc else f"field {reason}"


def parse_budgets(value: Any) -> list[Budget]:
    """Validate the ``budgets`` setting; a ``ValueError`` of one line names the budget and the field."""
    if isinstance(value, Mapping) or not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise ValueError("expected a list of [[budgets]] tables")
    budgets: list[Budget] = []
    names: set[str] = set()
    for i, item in enumerate(value):
        raw_name = item.get("name") if isinstance(item, Mapping) else getattr(item, "name", None)
        label = f"budget {raw_name!r}" if raw_name else f"budget #{i + 1}"
        try:
            budget = item if isinstance(item, Budget) else Budget.model_validate(item)
        except ValidationError as exc:
            raise ValueError(f"{label}: {_problem(exc.errors()[0])}") from None
        if budget.name in names:
            raise ValueError(f"{label}: field name: duplicate budget name (names must be unique)")
        names.add(budget.name)
        budgets.append(budget)
    return budgets


def check_budget_channels(budgets: Iterable[Budget], channels: Iterable[str]) -> None:
    """Refuse a budget naming a channel that is not defined under ``[channels.*]``."""
    known = set(channels)
    for budget in budgets:
        for channel in budget.channels:
            if channel not in known:
                defined = ", ".join(sorted(known)) or "none"
                raise ValueError(
                    f"budget {budget.name!r}: field channels: unknown channel {channel!r} "
                    f"(defined under [channels.*]: {defined})"
                )


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """One calendar period: ``[start, end)`` as Unix times (``end`` is when the budget resets)."""

    period: str
    label: str
    start: float
    end: float


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def period_window(ts: float, period: str, tz: tzinfo) -> PeriodWindow:
    """The calendar period holding Unix time ``ts`` in zone ``tz`` (weeks start on Monday).

    Day, week and month bounds are local midnights, so a day across a DST change lasts 23 or 25 hours;
    an hour is the local clock hour, and the repeated hour of a DST fall-back is two distinct windows.
    """
    local = datetime.fromtimestamp(ts, tz)
    if period == "hour":
        start_local = local.replace(minute=0, second=0, microsecond=0)
        start = start_local.timestamp()
        # +1 h of absolute time: DST shifts are whole hours (Lord Howe's half hour aside)
        return PeriodWindow(period, start_local.isoformat(timespec="hours"), start, start + 3600.0)
    day = local.date()
    if period == "day":
        first, following = day, day + timedelta(days=1)
        label = first.isoformat()
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        following = first + timedelta(days=7)
        iso = first.isocalendar()
        label = f"{iso.year}-W{iso.week:02d}"
    elif period == "month":
        first = day.replace(day=1)
        year, month = _next_month(first.year, first.month)
        following = first.replace(year=year, month=month)
        label = f"{first.year:04d}-{first.month:02d}"
    else:
        raise ValueError(f"unknown period {period!r}: expected hour, day, week or month")
    start = datetime(first.year, first.month, first.day, tzinfo=tz).timestamp()
    end = datetime(following.year, following.month, following.day, tzinfo=tz).timestamp()
    return PeriodWindow(period, label, start, end)


class PeriodClock:
    """``period_window`` for the hot path: the last window is kept and reused while times fall inside it."""

    __slots__ = ("_window", "period", "tz")

    def __init__(self, period: str, tz: tzinfo) -> None:
        self.period = period
        self.tz = tz
        # replaced as a whole, so threads never see a torn window
        self._window = PeriodWindow(period, "", math.inf, -math.inf)

    def window(self, ts: float) -> PeriodWindow:
        """The window holding Unix time ``ts`` (a comparison when it is the last one asked for)."""
        window = self._window
        if window.start <= ts < window.end:
            return window
        window = self._window = period_window(ts, self.period, self.tz)
        return window


def _value_of(record: Any, key: str) -> Any:
    """A scope key's value in a record (a ``UsageRecord``-like object or a mapping)."""
    if key.startswith(_TAG_PREFIX):
        tags = record.get("tags") if isinstance(record, Mapping) else getattr(record, "tags", None)
        return (tags or {}).get(key[len(_TAG_PREFIX) :])
    return record.get(key) if isinstance(record, Mapping) else getattr(record, key, None)


def scope_value(budget: Budget, record: Any) -> str | None:
    """Which of the budget's counters a record adds to: ``None`` when the scope does not match it,
    ``""`` for a budget without ``"*"``, else the record's value (``key=value`` pairs joined by ``,``
    when several keys have ``"*"``)."""
    per_value: list[tuple[str, str]] = []
    for key, wanted in budget.scope.items():
        value = _value_of(record, key)
        if value is None or value == "":
            return None
        if wanted == ALL_VALUES:
            per_value.append((key, str(value)))
        elif str(value) != wanted:
            return None
    if not per_value:
        return ""
    if len(per_value) == 1:
        return per_value[0][1]
    return ",".join(f"{key}={value}" for key, value in per_value)
