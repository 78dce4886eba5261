"""``export_report`` writes a report into the reports folder; ``download_report`` serves only those files."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_usage_monitor.api import create_app
from ai_usage_monitor.api.report_files import is_report_name, new_report_path
from tests.api.conftest import boundary_records, settings_for
from tests.api.helpers import SHANGHAI, local_client, settle_clock
from tests.support.records import write_records

SECRET = "top secret, never to be served"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    root = tmp_path_factory.mktemp("reports")
    settings = settings_for(root)
    write_records(settings.records_dir, boundary_records(settle_clock()), SHANGHAI)
    (root / "secret.json").write_text(SECRET)
    with local_client(create_app(settings)) as client:
        yield client, settings.reports_path


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_download(server: tuple[TestClient, Path], fmt: str) -> None:
    client, reports = server
    answer = client.post("/api/ai_usage/export_report", params={"days": 30, "format": fmt})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True
    assert body["format"] == fmt
    path = Path(body["report_path"])
    assert path.parent == reports
    assert re.fullmatch(rf"usage_report_\d{{8}}_\d{{6}}(_\d+)?\.{fmt}", path.name)
    assert body["download_url"] == f"/api/ai_usage/download_report?path={path.name}"
    on_disk = path.read_bytes()
    assert on_disk
    download = client.get(body["download_url"])
    assert download.status_code == 200
    assert download.content == on_disk
    assert download.headers["content-disposition"] == f'attachment; filename="{path.name}"'
    if fmt == "json":
        assert download.headers["content-type"].startswith("application/json")
        assert isinstance(json.loads(download.content), dict)
    else:
        assert download.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert len(rows) >= 2


def test_exports_in_the_same_second_get_their_own_files(server: tuple[TestClient, Path]) -> None:
    client, _ = server
    results: list[str] = []

    def export() -> None:
        results.append(client.post("/api/ai_usage/export_report", params={"days": 1}).json()["report_path"])

    threads = [threading.Thread(target=export) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 4


def test_new_report_names_never_collide(tmp_path: Path) -> None:
    from datetime import datetime

    moment = datetime(2025, 10, 26, 14, 30, 22, tzinfo=SHANGHAI)
    names = [new_report_path(tmp_path, SHANGHAI, "json", moment).name for _ in range(3)]
    assert names == [
        "usage_report_20251026_143022.json",
        "usage_report_20251026_143022_2.json",
        "usage_report_20251026_143022_3.json",
    ]
    assert all(is_report_name(n) for n in names)


@pytest.mark.parametrize(
    "name",
    [
        "usage_report_20251026_143022.json",
        "usage_report_20251026_143022_7.csv",
    ],
)
def test_report_names_accepted(name: str) -> None:
    assert is_report_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "../usage_report_20251026_143022.json",
        "usage_report_20251026_143022.json/..",
        "reports/usage_report_20251026_143022.json",
        "/usage_report_20251026_143022.json",
        "usage_report_20251026_143022.json\x00.txt",
        "usage_report_20251026_143022.txt",
        "usage_report_2025102_143022.json",
        "usage_report_20251026_143022.json\n",
        "USAGE_REPORT_20251026_143022.JSON",
        "usage_report_２０２５１０２６_143022.json",
        "secret.json",
        "",
    ],
)
def test_report_names_refused(name: str) -> None:
    assert not is_report_name(name)


def _refused(client: TestClient, raw_query: str) -> int:
    answer = client.get(f"/api/ai_usage/download_report?{raw_query}")
    assert SECRET not in answer.text
    assert 400 <= answer.status_code < 500, (raw_query, answer.status_code, answer.text)
    return answer.status_code


@pytest.mark.parametrize(
    "raw_query",
    [
        "path=../secret.json",
        "path=..%2Fsecret.json",
        "path=%2e%2e%2fsecret.json",
        "path=%252e%252e%252fsecret.json",
        "path=..%252fsecret.json",
        "path=%2E%2E%5Csecret.json",
        "path=/etc/passwd",
        "path=%2Fetc%2Fpasswd",
        "path=secret.json",
        "path=..",
        "path=.",
        "path=",
        "path=usage_report_20251026_143022.json%00",
        "path=usage_report_20251026_143022.json%2F..%2F..%2Fsecret.json",
        "path=..%2Freports%2Fusage_report_20251026_143022.json",
        "path=%C0%AE%C0%AE%2Fsecret.json",
        "path=%EF%BC%8E%EF%BC%8E%EF%BC%8Fsecret.json",
        "",
    ],
)
def test_download_refuses_traversal_and_other_names(server: tuple[TestClient, Path], raw_query: str) -> None:
    client, _ = server
    _refused(client, raw_query)


def test_download_refuses_absolute_path_of_a_real_report(server: tuple[TestClient, Path]) -> None:
    client, _ = server
    real = Path(client.post("/api/ai_usage/export_report").json()["report_path"])
    assert real.is_absolute() or real.exists()
    assert _refused(client, f"path={real.resolve()}") in (400, 422)


def test_download_refuses_links_and_special_files(server: tuple[TestClient, Path], tmp_path: Path) -> None:
    client, reports = server
    secret = tmp_path / "outside.json"
    secret.write_text(SECRET)
    (reports / "usage_report_20990101_000001.json").symlink_to(secret)
    os.link(secret, reports / "usage_report_20990101_000002.json")
    (reports / "usage_report_20990101_000003.json").mkdir()
    os.mkfifo(reports / "usage_report_20990101_000004.json")
    (reports / "usage_report_20990101_000005.json").symlink_to(reports / "usage_report_20990101_000003.json")
    for n in range(1, 6):
        assert _refused(client, f"path=usage_report_20990101_00000{n}.json") == 404, n
    assert _refused(client, "path=usage_report_20990101_000009.json") == 404


def test_download_only_from_the_reports_folder(tmp_path: Path) -> None:
    """A report-looking file in the records folder (not the reports folder) is not served."""
    settings = settings_for(tmp_path)
    settings.records_dir.mkdir(parents=True)
    (settings.records_dir / "usage_report_20251026_143022.json").write_text(SECRET)
    with local_client(create_app(settings)) as client:
        assert _refused(client, "path=usage_report_20251026_143022.json") == 404


@pytest.mark.parametrize("params", [{"days": 0}, {"days": 367}, {"format": "xml"}, {"format": "table"}])
def test_export_validation(server: tuple[TestClient, Path], params: dict[str, Any]) -> None:
    client, reports = server
    before = set(os.listdir(reports)) if reports.exists() else set()
    answer = client.post("/api/ai_usage/export_report", params=params)
    assert answer.status_code == 422
    after = set(os.listdir(reports)) if reports.exists() else set()
    assert after == before


def test_unwritable_reports_folder_is_a_503_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    settings = settings_for(tmp_path, reports_dir=blocker)
    with local_client(create_app(settings)) as client:
        answer = client.post("/api/ai_usage/export_report")
        assert answer.status_code == 503
        assert answer.json()["detail"] == "the reports folder is not writable"
