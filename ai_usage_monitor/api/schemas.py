"""Response models of the REST API (docs/architecture.md §6): every route's real shape in the OpenAPI schema.

Row models allow extra keys so the store can add fields (the contract says keys may be added, never
renamed) without the API silently dropping them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ai_usage_monitor.bounds import MESSAGE_MAX_CHARS, NAME_MAX_CHARS, OTHER, cut
from ai_usage_monitor.store.queries import Summary

__all__ = [
    "OTHER",
    "AdviceItem",
    "AdviceReport",
    "AnchorRank",
    "Breakdown",
    "BudgetList",
    "BudgetOmitted",
    "BudgetRunOut",
    "BudgetState",
    "ConfigInfo",
    "CostTrend",
    "CurrentStats",
    "DailySummary",
    "Dashboard",
    "DashboardRange",
    "ErrorRow",
    "ExportResult",
    "Forecast",
    "ForecastDay",
    "ForecastEntry",
    "ForecastTeamToday",
    "ForecastToday",
    "FunctionRank",
    "Health",
    "HostRank",
    "HourlySummary",
    "LatencyReport",
    "LatencyRow",
    "ModelRank",
    "MonthlySummary",
    "NotificationAttempt",
    "NotificationList",
    "PeriodSummary",
    "RankRow",
    "RecentErrors",
    "RecordsDropped",
    "SelectedTotals",
    "ServiceRank",
    "SessionSummary",
    "TodayStats",
    "TopAnchors",
    "TopFunctions",
    "TopHosts",
    "TopModels",
    "TopServices",
    "TopUsers",
    "Totals",
    "TrendPoint",
    "UnpricedModel",
    "UnpricedModels",
    "UserRank",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _BoundedRow(_Open):
    """A row whose strings (declared or extra keys) are cut: names to ``NAME_MAX_CHARS``, the error message
    to ``MESSAGE_MAX_CHARS``, so one hostile record cannot make every answer megabytes long."""

    @model_validator(mode="before")
    @classmethod
    def _cut_strings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            key: cut(value, MESSAGE_MAX_CHARS if key == "error_msg" else NAME_MAX_CHARS)
            if isinstance(value, str)
            else value
            for key, value in data.items()
        }


class Breakdown(_Open):
    """Totals of one model or one function inside a period."""

    calls: int
    total_tokens: int
    cost: float


class Totals(BaseModel):
    """Calls, tokens and cost of a period; ``success_rate`` in percent (100 when there were no calls)."""

    calls: int
    tokens: int
    cost: float
    success_rate: float

    @classmethod
    def of(cls, summary: Summary) -> Totals:
        return cls(
            calls=summary.calls,
            tokens=summary.total_tokens,
            cost=summary.cost,
            success_rate=summary.success_rate,
        )


def _breakdowns(rows: dict[str, dict[str, Any]]) -> dict[str, Breakdown]:
    return {name: Breakdown.model_validate(row) for name, row in rows.items()}


def _top_breakdowns(
    rows: list[dict[str, Any]], key: str, summary: Summary, limit: int
) -> dict[str, Breakdown]:
    """The first ``limit`` of ``rows`` (a ranking of ``key`` by cost, see ``queries.ranking``), names cut;
    the rest of ``summary``'s calls summed under ``OTHER``."""
    out: dict[str, dict[str, Any]] = {}
    calls, successes, tokens, cost = 0, 0.0, 0, 0.0
    for row in rows[:limit]:
        out[cut(str(row[key]))] = {
            "calls": row["calls"],
            "total_tokens": row["tokens"],
            "cost": row["cost"],
            "success_rate": row["success_rate"],
        }
        calls += row["calls"]
        successes += row["success_rate"] * row["calls"] / 100.0
        tokens += row["tokens"]
        cost += row["cost"]
    rest = summary.calls - calls
    if rest > 0:
        out[OTHER] = {
            "calls": rest,
            "total_tokens": summary.total_tokens - tokens,
            "cost": max(0.0, summary.cost - cost),
            "success_rate": min(100.0, max(0.0, (summary.successes - successes) * 100.0 / rest)),
        }
    return _breakdowns(out)


class TodayStats(Totals):
    by_model: dict[str, Breakdown]
    by_function: dict[str, Breakdown]


class CurrentStats(BaseModel):
    """The clock hour and the calendar day now, in the configured time zone."""

    current_hour: Totals
    today: TodayStats


class PeriodSummary(BaseModel):
    """The summary shape shared by hourly, daily, monthly and session totals (``UsageSummary.to_dict()``)."""

    period: str
    start: str | None = Field(description="ISO 8601 local time, included (session: its first call)")
    end: str | None = Field(description="ISO 8601 local time, excluded (session: its last call)")
    total_calls: int
    total_tokens: int
    total_cost: float
    success_rate: float
    successes: int
    failures: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    avg_duration_ms: float
    unpriced_calls: int
    by_model: dict[str, Breakdown]
    by_function: dict[str, Breakdown]


class HourlySummary(PeriodSummary):
    period: Literal["hourly"]
    hour: str = Field(description="Start of the local clock hour, ISO 8601")


class DailySummary(PeriodSummary):
    period: Literal["daily"]
    date: str = Field(description="Local calendar day, YYYY-MM-DD")


class MonthlySummary(PeriodSummary):
    period: Literal["monthly"]
    year: int
    month: int


class SessionSummary(PeriodSummary):
    period: Literal["session"]
    session_id: str


class RankRow(_BoundedRow):
    calls: int
    tokens: int
    cost: float


class UserRank(RankRow):
    user_id: str


class AnchorRank(RankRow):
    anchor_id: str


class FunctionRank(RankRow):
    function: str


class ModelRank(RankRow):
    model: str


class ServiceRank(RankRow):
    service: str


class HostRank(RankRow):
    host: str


class TopUsers(BaseModel):
    period_days: int
    top_users: list[UserRank]


class TopAnchors(BaseModel):
    period_days: int
    top_anchors: list[AnchorRank]


class TopFunctions(BaseModel):
    period_days: int
    top_functions: list[FunctionRank]


class TopServices(BaseModel):
    period_days: int
    top_services: list[ServiceRank]


class TopHosts(BaseModel):
    period_days: int
    top_hosts: list[HostRank]


class TopModels(BaseModel):
    period_days: int
    top_models: list[ModelRank]


class TrendPoint(_Open):
    date: str
    cost: float
    calls: int
    tokens: int


class CostTrend(BaseModel):
    period_days: int
    data: list[TrendPoint] = Field(
        description="One entry per local calendar day, oldest first, zeros included"
    )


class UnpricedModel(_BoundedRow):
    provider: str | None
    model: str | None
    calls: int
    tokens: int
    last_seen: float | None


class UnpricedModels(BaseModel):
    period_days: int
    unpriced_models: list[UnpricedModel]


class ErrorRow(_BoundedRow):
    timestamp: float
    provider: str | None
    model: str | None
    function: str | None
    user_id: str | None
    anchor_id: str | None
    error_type: str | None
    error_msg: str | None


class RecentErrors(BaseModel):
    recent_errors: list[ErrorRow] = Field(description="Newest first")


class LatencyRow(_BoundedRow):
    model: str | None
    calls: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None


class LatencyReport(BaseModel):
    period_days: int
    latency_by_model: list[LatencyRow]


class ExportResult(BaseModel):
    success: bool
    report_path: str
    download_url: str
    format: Literal["json", "csv"]


class DashboardRange(BaseModel):
    key: Literal["1h", "today", "7d", "30d", "month"]
    start: float
    end: float


class SelectedTotals(BaseModel):
    """Everything about the selected range at once; the breakdowns hold the top rows by cost and ``other``."""

    calls: int
    tokens: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: float
    success_rate: float
    avg_duration_ms: float
    unpriced_calls: int
    by_model: dict[str, Breakdown]
    by_function: dict[str, Breakdown]

    @classmethod
    def of(
        cls, summary: Summary, models: list[dict[str, Any]], functions: list[dict[str, Any]], limit: int
    ) -> SelectedTotals:
        """``summary``'s totals; its breakdowns the first ``limit`` of the rankings ``models`` and
        ``functions`` (null names as ``"unknown"``) and ``other`` (see ``_top_breakdowns``)."""
        return cls(
            calls=summary.calls,
            tokens=summary.total_tokens,
            input_tokens=summary.input_tokens,
            output_tokens=summary.output_tokens,
            cached_tokens=summary.cached_tokens,
            reasoning_tokens=summary.reasoning_tokens,
            cost=summary.cost,
            success_rate=summary.success_rate,
            avg_duration_ms=summary.avg_duration_ms,
            unpriced_calls=summary.unpriced_calls,
            by_model=_top_breakdowns(models, "model", summary, limit),
            by_function=_top_breakdowns(functions, "function", summary, limit),
        )


class Dashboard(BaseModel):
    """Everything the dashboard page shows, in one answer."""

    generated_at: float
    currency: str
    timezone: str
    range: DashboardRange
    current_hour: Totals
    today: Totals
    month: Totals
    selected: SelectedTotals
    cost_trend: list[TrendPoint] = Field(description="The last 30 local calendar days, oldest first")
    top_users: list[UserRank]
    top_anchors: list[AnchorRank]
    latency_by_model: list[LatencyRow]
    recent_errors: list[ErrorRow]
    unpriced_models: list[UnpricedModel]
    records_dropped: RecordsDropped | None = None
    services: list[str] = Field(
        default_factory=list,
        description="Every service seen (all time, most costly first): the dashboard's service picker",
    )
    service: str | None = Field(default=None, description="The service every panel is filtered by, if any")


class ConfigInfo(BaseModel):
    currency: str
    timezone: str
    auth_required: bool


class RecordsDropped(BaseModel):
    """Usage records the writing processes could not write (full disk, unwritable folder) or refused (bad
    numbers), from their drop ledgers: all processes, since the ledgers were last cleared."""

    total: int
    by_reason: dict[str, int] = Field(description="``write_failed`` and ``invalid``")
    processes: int = Field(description="Processes that dropped at least one record")
    last_at: float | None = Field(description="Unix time of the latest drop")
    last_error: str | None


class Health(_Open):
    """The store's own state: how much it indexed, what it skipped, how far behind the files it is."""

    status: str = Field(
        description='"ok"; else (answered with 503) "error", "closed", or "unreachable" (a ClickHouse store)'
    )
    records_indexed: int
    corrupt_lines: int
    duplicate_records: int = Field(0, description="Lines of a record already indexed (same record_id)")
    pending_partial_lines: int
    files: int = 0
    lag_seconds: float | None
    last_refresh: float | None
    last_record_timestamp: float | None = None
    index_path: str | None = Field(None, description="Relative to the working directory, or …/<name>")
    mode: str | None = None
    tailing: bool = False
    last_error: str | None = None
    records_dropped: RecordsDropped | None = None


class NotificationAttempt(BaseModel):
    """One entry of the notification delivery history."""

    id: int
    at: float = Field(description="Unix seconds of the attempt (or of queuing, for status 'queued')")
    channel: str
    key: str = Field(description="The message's de-duplication key")
    title: str
    status: Literal["queued", "delivered", "retry", "failed"]
    attempt: int = Field(description="1 for the first delivery attempt; 0 when the message was queued")
    error: str | None
    pid: int = Field(description="The process that made the attempt")


class NotificationList(BaseModel):
    count: int
    notifications: list[NotificationAttempt]


class AdviceItem(BaseModel):
    """One piece of advice: what to change, what it saves per month, how that was computed, on what."""

    kind: Literal["cheaper_model", "thinking", "context_tier", "cache", "failures"]
    function: str | None = Field(description="The function the calls came from (null: not set)")
    model: str = Field(description="The model the calls used")
    to_model: str | None = Field(description="The model to move to (cheaper_model only)")
    monthly_saving: float = Field(
        description="Saving per month at current volume in the configured currency: the window's saving "
        "× 30 ÷ the window's days"
    )
    detail: str = Field(description="How the figure was computed, in words")
    evidence: dict[str, Any] = Field(
        description="The records it rests on: window_start/end/days, calls, tokens, models, costs, …"
    )


class AdviceReport(BaseModel):
    currency: str
    period_days: int
    items: list[AdviceItem] = Field(description="Highest monthly saving first")


class ForecastToday(BaseModel):
    """Today's expected total (what is spent plus the rest of the day) with its 80% band."""

    expected: float
    low: float
    high: float


class ForecastTeamToday(ForecastToday):
    """The team's day: its date and what it has cost so far, besides the expected total."""

    date: str = Field(description="YYYY-MM-DD, configured time zone")
    spent: float


class ForecastEntry(_Open):
    key: str = Field(description='"all" for the team; else a model, function or anchor, or "other"')
    month_to_date: float
    expected: float = Field(description="Expected spend of the whole month")
    low: float = Field(description="Low end of the 80% band")
    high: float = Field(description="High end of the 80% band")
    method: str = Field(description="holt_winters, trend, recent_mean or month_to_date_only")
    today: ForecastToday


class ForecastDay(BaseModel):
    date: str
    expected: float
    low: float
    high: float


class BudgetRunOut(_Open):
    name: str
    runs_out_at: str | None = Field(
        description="Local date the budget runs out at the current pace; null: not this period"
    )


class Forecast(BaseModel):
    period: Literal["month"]
    month: str = Field(description="YYYY-MM, configured time zone")
    scope: str
    currency: str
    month_to_date: float
    today: ForecastTeamToday
    forecast: list[ForecastEntry] = Field(
        description='"all" first, then the top values by month-to-date cost'
    )
    daily: list[ForecastDay] = Field(description="The team's expected spend per day from today to month end")
    budgets: list[BudgetRunOut]


class BudgetState(BaseModel):
    """One budget, or one scope value of a ``"*"`` budget, in its current period (docs/budgets.md)."""

    name: str
    period: Literal["hour", "day", "week", "month"]
    scope: dict[str, str] = Field(description='The budget\'s scope; "*" means one budget per distinct value')
    scope_value: str | None = Field(
        description='"" for a budget without "*"; the value (key=value pairs joined by "," for several "*" '
        'keys); null for a "*" budget no value has spent from this period'
    )
    limit: float
    spent: float
    reserved: float = Field(description="Held by calls in flight (their worst case) until they settle")
    ratio: float = Field(description="spent / limit (1.0 for a zero limit)")
    state: Literal["ok", "warning", "exceeded"] = Field(
        description="exceeded at ratio >= 1.0; warning from the highest threshold below 1.0"
    )
    resets_at: str = Field(description="When the period ends, ISO 8601 in the configured time zone")
    action: Literal["notify", "block", "downgrade"]
    source: Literal["ledger", "records"] = Field(
        description="ledger: the shared spend ledger; records: the period's records, the ledger has not seen "
        "it yet"
    )


class BudgetOmitted(BaseModel):
    """The scope values of a ``"*"`` budget beyond those listed."""

    name: str
    limit: float = Field(description="The limit each of them has")
    count: int
    spent: float
    reserved: float
    max_ratio: float = Field(description="The highest spent / limit among them")


class BudgetList(BaseModel):
    currency: str
    budgets: list[BudgetState] = Field(
        description='Settings order; a "*" budget lists its top values by spend'
    )
    omitted: list[BudgetOmitted] = Field(description='Per "*" budget, how many values are not listed')
