"""Bad setup is one line on stderr naming what is wrong, where it was set and how to fix it; no traceback.

Each case runs the real ``ai-usage-monitor`` entry point in a subprocess, as a new user would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.api.conftest import boundary_records
from tests.api.helpers import SHANGHAI, settle_clock
from tests.support.processes import free_port
from tests.support.records import write_records

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("serve", "report", "reindex", "demo")


def run_cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``ai-usage-monitor ARGS`` in ``cwd`` with a clean ``AI_USAGE_*`` environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AI_USAGE_")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    port_args = ["--port", str(free_port())] if args[0] in ("serve", "demo") and "--port" not in args else []
    extra = ["--backfill", "0"] if args[0] == "demo" else []
    return subprocess.run(
        [sys.executable, "-c", "from ai_usage_monitor.cli import main; main()", *args, *port_args, *extra],
        cwd=cwd,
        env={**base, "AI_USAGE_TIMEZONE": "Asia/Shanghai", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], *names: str) -> str:
    """The single stderr line of a failed run, checked to name every one of ``names``."""
    assert done.returncode in (1, 2), (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Fix:" in lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@contextmanager
def locked(folder: Path) -> Iterator[Path]:
    """``folder`` made unwritable for the block: mode 555, and immutable when the tests run as root."""
    folder.chmod(0o555)
    as_root = os.access(folder, os.W_OK)  # root ignores the mode bits
    if as_root:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        yield folder
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.fixture
def unwritable_folder(tmp_path: Path) -> Iterator[Path]:
    """An empty folder nobody can create files in."""
    folder = tmp_path / "locked"
    folder.mkdir()
    with locked(folder):
        yield folder


@pytest.mark.parametrize("command", COMMANDS)
def test_records_folder_that_is_a_file(command: str, tmp_path: Path) -> None:
    (tmp_path / "records.txt").write_text("not a folder")
    line = one_line_error(run_cli([command, "--records-dir", "records.txt"], tmp_path), "--records-dir")
    assert "'records.txt'" in line and "is a file" in line
    assert str(tmp_path / "records.txt") in line  # the relative path resolved against the working directory


@pytest.mark.parametrize("command", ["serve", "report"])
def test_records_folder_from_the_environment(command: str, tmp_path: Path) -> None:
    (tmp_path / "records.txt").write_text("not a folder")
    done = run_cli([command], tmp_path, AI_USAGE_RECORDS_DIR="records.txt")
    assert "is a file" in one_line_error(done, "AI_USAGE_RECORDS_DIR")


def test_default_records_folder_names_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "records").write_text("a file where the default records folder goes")
    line = one_line_error(run_cli(["serve"], tmp_path), "records/ai_usage", "the default")
    assert str(tmp_path / "records" / "ai_usage") in line


@pytest.mark.parametrize("command", COMMANDS)
def test_unwritable_records_folder(command: str, unwritable_folder: Path) -> None:
    done = run_cli([command, "--records-dir", str(unwritable_folder)], unwritable_folder.parent)
    assert "not writable" in one_line_error(done, str(unwritable_folder), "--records-dir")


def test_unwritable_index_folder(tmp_path: Path, unwritable_folder: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    done = run_cli(
        ["report", "--records-dir", str(records)], tmp_path, AI_USAGE_INDEX_DIR=str(unwritable_folder)
    )
    assert "not writable" in one_line_error(done, "AI_USAGE_INDEX_DIR", str(unwritable_folder))


def test_read_only_records_folder_with_the_index_elsewhere_is_fine(tmp_path: Path) -> None:
    records = tmp_path / "archive"
    write_records(records, boundary_records(settle_clock()), SHANGHAI)
    with locked(records):
        done = run_cli(
            ["report", "--format", "json"],
            tmp_path,
            AI_USAGE_RECORDS_DIR=str(records),
            AI_USAGE_INDEX_DIR=str(tmp_path / "index"),
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["period"]["days"] == 7


@pytest.mark.parametrize("command", ["report", "demo"])
def test_bad_environment_value_names_the_variable(command: str, tmp_path: Path) -> None:
    done = run_cli([command], tmp_path, AI_USAGE_CURRENCY="EUR")
    line = one_line_error(done, "AI_USAGE_CURRENCY", "'EUR'")
    assert "'CNY' or 'USD'" in line


def test_bad_toml_value_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('currency = "CNY"\nport = "high"\n')
    done = run_cli(["report"], tmp_path, AI_USAGE_CONFIG=str(config))
    line = one_line_error(done, str(config), "'port'", "'high'")
    assert "AI_USAGE_PORT" not in line


def test_broken_toml_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('currency = "CNY"\nport = \n')
    line = one_line_error(
        run_cli(["serve"], tmp_path, AI_USAGE_CONFIG=str(config)), str(config), "AI_USAGE_CONFIG"
    )
    assert "not valid TOML" in line and "line 2" in line


def test_missing_toml_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    done = run_cli(["reindex"], tmp_path, AI_USAGE_CONFIG=str(missing))
    assert "not a file" in one_line_error(done, str(missing), "AI_USAGE_CONFIG")


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_busy_port_names_the_option(command: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        done = run_cli([command, "--port", port, "--records-dir", "records"], tmp_path)
    assert "cannot listen" in one_line_error(done, f"127.0.0.1:{port}", "--port")


def test_bad_option_is_one_line(tmp_path: Path) -> None:
    done = run_cli(["report", "--days", "0"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "ai-usage-monitor: error: Invalid value for --days: must be an integer from 1 to 366, not 0 "
        "(see 'ai-usage-monitor report --help')"
    ]


@pytest.mark.parametrize(
    ("command", "names"),
    [
        (["serve", "--help"], ["AI_USAGE_HOST", "AI_USAGE_PORT", "AI_USAGE_RECORDS_DIR", "AI_USAGE_STORE"]),
        (["ship", "--help"], ["AI_USAGE_RECORDS_DIR", "HOST_PORT_DATABASE"]),
    ],
)
def test_help_names_the_variables_behind_the_options(
    tmp_path: Path, command: list[str], names: list[str]
) -> None:
    """Help text in square brackets is markup to the help renderer, which drops it: none may be lost."""
    shown = run_cli(command, tmp_path, COLUMNS="200")
    assert shown.returncode == 0, shown.stderr
    for name in names:
        assert name in shown.stdout, name


def test_python_dash_m_runs_the_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_USAGE_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    shown = subprocess.run(
        [sys.executable, "-m", "ai_usage_monitor", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "serve" in shown.stdout and "ship" in shown.stdout
