"""FastAPI dependencies, declared once: the app's store, settings and metrics registry, and the validated
query parameters (a number out of range or malformed is a 422 whose message names the allowed range)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import GroupedMetadata
from fastapi import Depends, Path, Query, Request
from prometheus_client import CollectorRegistry
from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from ai_usage_monitor.config import Settings
from ai_usage_monitor.store.backend import Store
from ai_usage_monitor.store.queries import Filters
from ai_usage_monitor.store.schema import MAX_TAG_CHARS

__all__ = [
    "REGISTRY_STATE_KEY",
    "STORE_STATE_KEY",
    "DashboardRangeKey",
    "Days",
    "DaysAgo",
    "ExportDays",
    "FiltersDep",
    "HoursAgo",
    "InRange",
    "Limit",
    "Month",
    "RegistryDep",
    "ReportFormat",
    "SessionId",
    "SettingsDep",
    "StoreDep",
    "TrendDays",
    "Year",
]

#: Keys under which the router's lifespan hands the store and the metrics registry to every request.
STORE_STATE_KEY = "ai_usage_store"
REGISTRY_STATE_KEY = "ai_usage_metrics_registry"

_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")


def _from_state(request: Request, key: str) -> Any:
    value = getattr(request.state, key, None)
    if value is None:
        raise RuntimeError(
            "the ai_usage_monitor router's lifespan has not run: add it with ai_usage_monitor.api.mount(app) "
            "or app.include_router(create_router()) and serve the app through its lifespan"
        )
    return value


def get_store(request: Request) -> Store:
    store: Store = _from_state(request, STORE_STATE_KEY)
    return store


def get_registry(request: Request) -> CollectorRegistry:
    registry: CollectorRegistry = _from_state(request, REGISTRY_STATE_KEY)
    return registry


StoreDep = Annotated[Store, Depends(get_store)]
RegistryDep = Annotated[CollectorRegistry, Depends(get_registry)]


def get_settings(store: StoreDep) -> Settings:
    return store.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True, slots=True)
class InRange(GroupedMetadata):
    """Pydantic metadata: an integer from ``low`` to ``high``; anything else fails with that message."""

    name: str
    low: int
    high: int
    description: str

    def __iter__(self) -> Iterator[Any]:
        yield PlainValidator(self._check)
        yield WithJsonSchema(
            {
                "type": "integer",
                "minimum": self.low,
                "maximum": self.high,
                "description": f"{self.description} ({self.low}–{self.high})",
            }
        )

    def _check(self, value: object) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            number = int(value)
        if number is None or not self.low <= number <= self.high:
            raise PydanticCustomError(
                "out_of_range",
                "{name} must be an integer from {low} to {high}",
                {"name": self.name, "low": self.low, "high": self.high},
            )
        return number


_WINDOW = "Calendar days ending today (today included) in the configured time zone"

Limit = Annotated[int, InRange("limit", 1, 100, "How many rows")]
Days = Annotated[int, InRange("days", 1, 90, _WINDOW)]
TrendDays = Annotated[int, InRange("days", 1, 366, _WINDOW)]
ExportDays = Annotated[int, InRange("days", 1, 366, _WINDOW)]
DaysAgo = Annotated[int, InRange("days_ago", 0, 366, "0 is today, 1 yesterday, in the configured time zone")]
HoursAgo = Annotated[int, InRange("hours_ago", 0, 8784, "0 is the current clock hour, configured time zone")]
Year = Annotated[int | None, InRange("year", 2000, 2100, "Calendar year; default the current one")]
Month = Annotated[int | None, InRange("month", 1, 12, "Calendar month; default the current one")]
SessionId = Annotated[str, Path(min_length=1, max_length=256, description="The session_id of the records")]

DashboardRangeKey = Annotated[
    Literal["1h", "today", "7d", "30d", "month"],
    Query(alias="range", description="1h: the last 60 minutes; today; 7d or 30d: days ending today; month"),
]
ReportFormat = Annotated[Literal["json", "csv"], Query(alias="format", description="Report file format")]


#: Tag filters one request may give at most.
MAX_TAG_FILTERS = 10
_NAME_MAX = 256


def _tag_filter(value: object) -> str:
    """A ``tag=`` value: ``key:value`` (split at the first colon; the key not empty, the pair indexable)."""
    if isinstance(value, str):
        key, sep, tag_value = value.partition(":")
        if sep and key and len(key) + len(tag_value) <= MAX_TAG_CHARS:
            return value
    raise PydanticCustomError(
        "tag_filter",
        "tag must be key:value (a key, a colon, then the value; {max} characters at most), got '{value}'",
        {"max": MAX_TAG_CHARS + 1, "value": str(value)[:80]},
    )


_TagFilter = Annotated[
    str,
    PlainValidator(_tag_filter),
    WithJsonSchema({"type": "string", "pattern": "^[^:]+:", "examples": ["team:直播"]}),
]


def get_filters(
    service: Annotated[
        str | None,
        Query(min_length=1, max_length=_NAME_MAX, description="Only the records of this service (app)"),
    ] = None,
    host: Annotated[
        str | None,
        Query(min_length=1, max_length=_NAME_MAX, description="Only the records written on this host"),
    ] = None,
    tag: Annotated[
        list[_TagFilter],
        Query(
            max_length=MAX_TAG_FILTERS,
            description="Only records with this tag, as key:value (split at the first colon); repeat the "
            "parameter for several, which must all match",
        ),
    ] = [],  # noqa: B006 - FastAPI copies a query parameter's default per request
) -> Filters | None:
    """The record filters of a request; ``None`` when it gives none (such answers are cached)."""
    if service is None and host is None and not tag:
        return None
    tags = tuple((key, value) for key, _, value in (t.partition(":") for t in tag))
    return Filters(service=service, host=host, tags=tags)


FiltersDep = Annotated[Filters | None, Depends(get_filters)]
