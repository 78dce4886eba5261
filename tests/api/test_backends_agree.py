"""The two store backends side by side over the same records: every REST answer, ``/metrics``, the Python
``get_usage_monitor()`` API and the query functions agree, and every statement the ClickHouse backend sent
(DDL and queries) also runs on a current ClickHouse engine (chdb) with the same answers."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ai_usage_monitor import get_usage_monitor
from ai_usage_monitor.api import create_app
from ai_usage_monitor.config import Settings
from ai_usage_monitor.insights import advise_last_days
from ai_usage_monitor.insights.report import build_forecast
from ai_usage_monitor.pricing import get_pricer
from ai_usage_monitor.records import UsageRecord
from ai_usage_monitor.store import queries
from ai_usage_monitor.store.backend import open_store
from ai_usage_monitor.store.clickhouse.client import observe_statements
from ai_usage_monitor.store.reports import build_report
from tests.api.conftest import boundary_records, settings_for
from tests.api.helpers import SHANGHAI, local_client, settle_clock
from tests.store.helpers import make_records
from tests.support.clickhouse import ClickHouseServer, chdb_session, load_jsonl
from tests.support.records import write_records

#: GET routes under /api/ai_usage compared between the backends (every one that reads the records; the
#: forecast and the advice, which move with the clock, are compared at one instant in
#: ``test_query_functions_are_equal``)
ROUTES = [
    "/stats/current",
    *(f"/stats/hourly?hours_ago={h}" for h in (0, 1, 5)),
    *(f"/stats/daily?days_ago={d}" for d in (0, 1, 6, 40)),
    "/stats/monthly",
    "/stats/monthly?year=2025&month=9",
    "/stats/session/session_456",
    "/stats/session/session_3",
    *(f"/cost_trend?days={d}" for d in (7, 30)),
    "/latency?days=30",
    "/recent_errors?limit=20",
    "/unpriced_models?days=30",
    *(f"/{r}?limit=5&days=30" for r in ("top_users", "top_anchors", "top_functions", "top_models")),
    *(f"/dashboard?range={r}" for r in ("1h", "today", "7d", "30d", "month")),
]
#: answer keys that tell when, not what
_VOLATILE = {"generated_at", "last_refresh", "lag_seconds"}


@dataclass
class Pair:
    records: list[UsageRecord]
    duck: Settings
    house: Settings
    server: ClickHouseServer
    database: str
    statements: list[str]


@pytest.fixture(scope="module")
def pair(clickhouse_server: ClickHouseServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("agree")
    now = settle_clock(margin=120.0)
    records = [*boundary_records(now), *make_records(400, time.time() - 45 * 86400, time.time() - 60)]
    duck = settings_for(root)
    write_records(duck.records_dir, records, SHANGHAI)
    database = clickhouse_server.new_database("agree")
    url = clickhouse_server.url(database)
    statements: list[str] = []
    with observe_statements(statements.append):
        assert load_jsonl(url, duck.records_dir) == len(records)
        yield Pair(records, duck, settings_for(root, store=url), clickhouse_server, database, statements)


def _same(a: Any, b: Any, where: str = "", rel: float = 1e-9) -> None:
    """``a`` equals ``b``, floats to ``rel`` (sums in another order differ in the last bits),
    ``_VOLATILE`` keys skipped."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            if key not in _VOLATILE:
                _same(a[key], b[key], f"{where}.{key}", rel)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]", rel)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=rel, abs=1e-12), where
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def clients(pair: Pair) -> Iterator[tuple[TestClient, TestClient]]:
    with local_client(create_app(pair.duck)) as duck, local_client(create_app(pair.house)) as house:
        yield duck, house


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_alike(clients: tuple[TestClient, TestClient], route: str) -> None:
    duck, house = (c.get(f"/api/ai_usage{route}") for c in clients)
    assert duck.status_code == house.status_code == 200, (duck.text, house.text)
    _same(duck.json(), house.json(), route)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name != "ai_usage_store_lag_seconds"
    }


def test_metrics_are_equal(clients: tuple[TestClient, TestClient], pair: Pair) -> None:
    duck, house = (_samples(c.get("/metrics").text) for c in clients)
    assert duck.keys() == house.keys()
    for key, value in duck.items():
        assert house[key] == pytest.approx(value, rel=1e-9), key
    assert duck[("ai_usage_store_records_indexed", ())] == len(pair.records)


def test_health_names_the_backend(clients: tuple[TestClient, TestClient], pair: Pair) -> None:
    duck, house = (c.get("/health").json() for c in clients)
    assert (duck["mode"], house["mode"]) == ("file", "clickhouse")
    assert house["status"] == "ok" and house["records_indexed"] == duck["records_indexed"] == len(
        pair.records
    )
    assert pair.server.password not in json.dumps(house)


def test_python_api_is_equal(pair: Pair) -> None:
    duck = get_usage_monitor(pair.duck.records_dir, "Asia/Shanghai")
    house = get_usage_monitor(pair.duck.records_dir, "Asia/Shanghai", store=pair.house.store)
    for ask in (
        lambda m: m.get_hourly_summary(0).to_dict(),
        lambda m: m.get_daily_summary(1).to_dict(),
        lambda m: m.get_monthly_summary().to_dict(),
        lambda m: m.get_current_stats(),
        lambda m: m.get_top_users(5, 30),
        lambda m: m.get_cost_trend(30),
        lambda m: m.get_session_stats("session_2"),
    ):
        _same(ask(duck), ask(house))


def test_query_functions_are_equal(pair: Pair) -> None:
    today = date.today()
    days = [today - timedelta(days=i) for i in range(40, -1, -1)]
    now = time.time()
    pricer = get_pricer(pair.duck)
    with open_store(pair.duck) as duck, open_store(pair.house) as house:
        duck.refresh()
        for ask in (
            lambda s: list(queries.iter_records(s, None)),
            lambda s: list(queries.advice_calls(s, queries.TimeRange(0, time.time() + 60))),
            lambda s: queries.model_traffic(s, queries.TimeRange(0, time.time() + 60)),
            lambda s: queries.daily_costs(s, days, "user_id"),
            lambda s: queries.daily_costs(s, days, "model"),
            lambda s: queries.daily_costs(s, days, "function"),
            lambda s: queries.hourly_costs(s, queries.TimeRange(time.time() - 7 * 86400, time.time())),
            lambda s: queries.ranking(s, "anchor_id", None, 100, with_unknown=True),
            lambda s: queries.summarize(s, None, queries.Filters(model="qwen-plus")).by_function,
            lambda s: build_report(s, 30),
            lambda s: [asdict(a) for a in advise_last_days(s, pricer, 30, now)],
        ):
            _same(ask(duck), ask(house))
        # the forecast fits a model to the daily costs above (equal to the last bits): its optimiser may stop
        # a hair apart
        _same(build_forecast(duck, "model", now=now), build_forecast(house, "model", now=now), rel=1e-4)


def _cells(text: str) -> list[tuple[str, ...]]:
    """TabSeparated rows, numbers (and arrays of them) at 9 significant digits, sorted."""

    def cell(value: str) -> str:
        try:
            number = float(value)
        except ValueError:
            if value.startswith("[") and "'" not in value:
                return repr([cell(str(v)) for v in json.loads(value)])
            return value
        return value if math.isnan(number) else f"{number:.9g}"

    return sorted(tuple(cell(v) for v in line.split("\t")) for line in text.splitlines())


def test_every_statement_runs_on_a_current_engine_alike(
    pair: Pair, clients: tuple[TestClient, TestClient], tmp_path: Path
) -> None:
    """Replays on chdb what the backend sent for the whole module (migrate, every route, /metrics, the
    Python API): DDL and reads of system tables must run; every other query must answer as the server did."""
    seen = list(dict.fromkeys(pair.statements))
    assert any(s.startswith("CREATE TABLE") for s in seen) and any("FINAL" in s for s in seen)
    data = pair.server.http(f"SELECT * FROM {pair.database}.records FORMAT JSONEachRow")
    compared = 0
    for runner in chdb_session(tmp_path, pair.database):
        for sql in seen:
            if sql.startswith(("CREATE", "ALTER")):
                runner.run(sql)
        runner.run(f"INSERT INTO {pair.database}.records FORMAT JSONEachRow\n{data}")
        for sql in seen:
            if sql.startswith(("CREATE", "ALTER", "INSERT")):
                continue
            current = runner.run(sql)
            if "system." in sql or "version" in sql:
                continue  # runs; its answer is about the engine or the migration, not the records
            assert _cells(current) == _cells(pair.server.http(sql, pair.database)), sql
            compared += 1
    assert compared > 30
