"""Input validation (422 naming the allowed range, never a 500), the bearer token, and the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Dataset, boundary_records, settings_for
from tests.api.helpers import SHANGHAI, local_client, settle_clock
from tests.support.records import write_records
from tests.support.servers import serve_monitor


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/top_users", {"limit": 0}, "limit must be an integer from 1 to 100"),
        ("/top_users", {"limit": 101}, "limit must be an integer from 1 to 100"),
        ("/top_users", {"limit": "ten"}, "limit must be an integer from 1 to 100"),
        ("/top_users", {"days": 91}, "days must be an integer from 1 to 90"),
        ("/top_anchors", {"days": 0}, "days must be an integer from 1 to 90"),
        ("/top_functions", {"days": -1}, "days must be an integer from 1 to 90"),
        ("/top_models", {"limit": 1000}, "limit must be an integer from 1 to 100"),
        ("/unpriced_models", {"days": 100}, "days must be an integer from 1 to 90"),
        ("/latency", {"days": "7.5"}, "days must be an integer from 1 to 90"),
        ("/recent_errors", {"limit": 101}, "limit must be an integer from 1 to 100"),
        ("/cost_trend", {"days": 367}, "days must be an integer from 1 to 366"),
        ("/cost_trend", {"days": 0}, "days must be an integer from 1 to 366"),
        ("/stats/daily", {"days_ago": -1}, "days_ago must be an integer from 0 to 366"),
        ("/stats/daily", {"days_ago": "1e9"}, "days_ago must be an integer from 0 to 366"),
        ("/stats/hourly", {"hours_ago": 8785}, "hours_ago must be an integer from 0 to 8784"),
        ("/stats/monthly", {"month": 13}, "month must be an integer from 1 to 12"),
        ("/stats/monthly", {"month": 0, "year": 2025}, "month must be an integer from 1 to 12"),
        ("/stats/monthly", {"year": 1999}, "year must be an integer from 2000 to 2100"),
    ],
)
def test_out_of_range_is_422_naming_the_range(
    dataset: Dataset, path: str, params: dict[str, Any], message: str
) -> None:
    answer = dataset.client.get(f"/api/ai_usage{path}", params=params)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert [error["msg"] for error in detail] == [message]
    assert detail[0]["loc"] == [
        "query",
        next(iter(params)) if path != "/stats/monthly" else detail[0]["loc"][1],
    ]


NASTY = [
    "",
    " ",
    "-0",
    "+5",
    "0x10",
    "1_000",
    "９",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "9" * 5000,
    "%00",
    "'; DROP TABLE records; --",
    "../../etc/passwd",
    "😀",
    "\u202e",
    "true",
]
GET_ROUTES = [
    "/stats/current",
    "/stats/daily?days_ago={v}",
    "/stats/hourly?hours_ago={v}",
    "/stats/monthly?year={v}&month={v}",
    "/stats/session/{v}",
    "/top_users?limit={v}&days={v}",
    "/top_anchors?limit={v}",
    "/top_functions?days={v}",
    "/top_models?limit={v}",
    "/unpriced_models?days={v}",
    "/recent_errors?limit={v}",
    "/latency?days={v}",
    "/cost_trend?days={v}",
    "/download_report?path={v}",
    "/dashboard?range={v}",
]


@pytest.mark.parametrize("route", GET_ROUTES)
def test_no_input_gives_a_500(dataset: Dataset, route: str) -> None:
    for value in NASTY:
        url = "/api/ai_usage" + route.format(v=httpx.QueryParams({"v": value})["v"])
        answer = dataset.client.get(url.replace(" ", "%20"))
        assert answer.status_code < 500, (url[:80], answer.status_code, answer.text[:200])
        if answer.status_code == 422:
            assert answer.json()["detail"][0]["msg"]


def test_session_id_may_be_any_text(dataset: Dataset) -> None:
    for session in ["'; DROP TABLE records; --", "会话-1", "a%2Fb", "x" * 256]:
        answer = dataset.client.get(f"/api/ai_usage/stats/session/{session}")
        assert answer.status_code == 200
        assert answer.json()["total_calls"] == 0
    assert dataset.client.get("/api/ai_usage/stats/session/" + "x" * 257).status_code == 422


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server under uvicorn, started with a token."""
    root = tmp_path_factory.mktemp("guarded")
    settings = settings_for(root, api_token="s3cret-token")
    write_records(settings.records_dir, boundary_records(settle_clock()), SHANGHAI)
    with serve_monitor(settings) as url:
        yield url


API_PATHS = [
    "/api/ai_usage/stats/current",
    "/api/ai_usage/stats/daily",
    "/api/ai_usage/stats/hourly",
    "/api/ai_usage/stats/monthly",
    "/api/ai_usage/stats/session/s1",
    "/api/ai_usage/top_users",
    "/api/ai_usage/top_anchors",
    "/api/ai_usage/top_functions",
    "/api/ai_usage/top_models",
    "/api/ai_usage/unpriced_models",
    "/api/ai_usage/recent_errors",
    "/api/ai_usage/latency",
    "/api/ai_usage/cost_trend",
    "/api/ai_usage/dashboard",
    "/api/ai_usage/download_report?path=usage_report_20251026_143022.json",
]


@pytest.mark.parametrize("path", API_PATHS)
def test_token_required_for_api(guarded: str, path: str) -> None:
    with httpx.Client(base_url=guarded) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXRva2Vu"}):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert answer.headers["www-authenticate"] == "Bearer"
        # the token is checked before the input: a bad value without a token is still a 401
        assert client.get(path, params={"days": 0}).status_code == 401
        good = client.get(path, headers={"Authorization": "Bearer s3cret-token"})
        assert good.status_code == (404 if "download" in path else 200), good.text


def test_export_requires_the_token(guarded: str) -> None:
    with httpx.Client(base_url=guarded) as client:
        assert client.post("/api/ai_usage/export_report").status_code == 401
        ok = client.post("/api/ai_usage/export_report", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        url = ok.json()["download_url"]
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_health_metrics_config_and_page_stay_open(guarded: str) -> None:
    with httpx.Client(base_url=guarded) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/api/ai_usage/config").json()["auth_required"] is True
        index = client.get("/")
        assert index.status_code in (302, 307)
        assert index.headers["location"] == "/static/ai_usage_monitor.html"


def test_openapi_has_real_response_models(dataset: Dataset) -> None:
    schema = dataset.client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    paths = schema["paths"]
    expected = {
        ("get", "/api/ai_usage/stats/current"): "CurrentStats",
        ("get", "/api/ai_usage/stats/daily"): "DailySummary",
        ("get", "/api/ai_usage/stats/hourly"): "HourlySummary",
        ("get", "/api/ai_usage/stats/monthly"): "MonthlySummary",
        ("get", "/api/ai_usage/stats/session/{session_id}"): "SessionSummary",
        ("get", "/api/ai_usage/top_users"): "TopUsers",
        ("get", "/api/ai_usage/top_anchors"): "TopAnchors",
        ("get", "/api/ai_usage/top_functions"): "TopFunctions",
        ("get", "/api/ai_usage/top_models"): "TopModels",
        ("get", "/api/ai_usage/unpriced_models"): "UnpricedModels",
        ("get", "/api/ai_usage/recent_errors"): "RecentErrors",
        ("get", "/api/ai_usage/latency"): "LatencyReport",
        ("get", "/api/ai_usage/cost_trend"): "CostTrend",
        ("post", "/api/ai_usage/export_report"): "ExportResult",
        ("get", "/api/ai_usage/dashboard"): "Dashboard",
        ("get", "/api/ai_usage/config"): "ConfigInfo",
        ("get", "/health"): "Health",
    }
    for (method, path), model in expected.items():
        content = paths[path][method]["responses"]["200"]["content"]["application/json"]
        assert content["schema"] == {"$ref": f"#/components/schemas/{model}"}, path
        assert components[model]["properties"], model
    download = paths["/api/ai_usage/download_report"]["get"]["responses"]["200"]["content"]
    assert set(download) >= {"application/json", "text/csv"}
    assert "text/plain" in next(iter(paths["/metrics"]["get"]["responses"]["200"]["content"]))
    dashboard = components["Dashboard"]["properties"]
    assert set(dashboard) >= {"current_hour", "selected", "cost_trend", "top_users", "unpriced_models"}
    top_users = paths["/api/ai_usage/top_users"]["get"]["parameters"]
    limit = next(p for p in top_users if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    assert "AI_USAGE_API_TOKEN" in schema["components"]["securitySchemes"]


def test_router_mounts_into_a_users_app(tmp_path: Path) -> None:
    from fastapi import FastAPI

    from ai_usage_monitor.api import mount

    settings = settings_for(tmp_path)
    write_records(settings.records_dir, boundary_records(settle_clock()), SHANGHAI)
    app = FastAPI()

    @app.get("/mine")
    def mine() -> dict[str, str]:
        return {"app": "user"}

    mount(app, settings, prefix="/monitor")
    with local_client(app) as client:
        assert client.get("/mine").json() == {"app": "user"}
        current = client.get("/monitor/api/ai_usage/stats/current")
        assert current.status_code == 200
        assert current.json()["today"]["calls"] >= 2
        assert client.get("/monitor/health").status_code == 200
        assert "ai_usage_requests_total" in client.get("/monitor/metrics").text
        page = client.get("/monitor/static/ai_usage_monitor.html")
        assert page.status_code == 200
        exported = client.post("/monitor/api/ai_usage/export_report").json()
        assert exported["download_url"].startswith("/monitor/api/ai_usage/download_report?path=")
        assert client.get(exported["download_url"]).status_code == 200
