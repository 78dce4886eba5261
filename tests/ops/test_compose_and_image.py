"""docker-compose.yml validated by Debian's docker-compose, and the Dockerfile built from the project's
own files: no Docker engine runs here, so the image's `pip install` is replayed on exactly the files
its COPY lines take (after .dockerignore)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.ops._support import ROOT, load_yaml

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            found.append((keyword.upper(), args.strip()))
    return found


def _copies() -> list[tuple[list[str], str]]:
    copies = []
    for keyword, args in _instructions():
        if keyword in {"COPY", "ADD"}:
            *sources, destination = args.split()
            assert not any(s.startswith("--from") for s in sources), "multi-stage copies are not expected"
            copies.append((sources, destination))
    return copies


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins, `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(fnmatch.fnmatch(p, body) or fnmatch.fnmatch(p, body.replace("**/", "")) for p in prefixes)
        if body.startswith("**/"):
            hit = hit or any(fnmatch.fnmatch(part, body[3:]) for part in parts)
        if hit:
            ignored = not negate
    return ignored


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    compose = shutil.which("docker-compose")
    assert compose is not None, "docker-compose is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _documented_port(service: str, port: str) -> tuple[str, str, str]:
    """``127.0.0.1:${VARIABLE:-number}:inside`` listed in docs/operations.md's ports table."""
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    match = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)", port)
    assert match, f"{service}: {port} must be published on 127.0.0.1, its number in a variable"
    variable, number, inside = match.groups()
    assert f"| {number} | `{variable}` |" in docs, f"{service}: port {number} not documented"
    return variable, number, inside


def test_compose_clickhouse_profile_ships_the_records_folder_and_serves_from_clickhouse() -> None:
    compose = load_yaml(ROOT / "docker-compose.yml")
    profiled = {name: s for name, s in compose["services"].items() if "profiles" in s}
    assert set(profiled) == {"clickhouse", "shipper", "monitor-clickhouse"}
    for name, service in profiled.items():
        assert service["profiles"] == ["clickhouse"]
        for port in service["ports"]:
            _documented_port(name, port)
    shipper, monitor = profiled["shipper"], profiled["monitor-clickhouse"]
    assert "exec ai-usage-monitor ship" in " ".join(shipper["command"])
    assert shipper["volumes"] == compose["services"]["monitor"]["volumes"][1:]  # the same records folder
    assert shipper["environment"]["AI_USAGE_STORE"] == monitor["environment"]["AI_USAGE_STORE"]
    assert monitor["environment"]["AI_USAGE_STORE"].startswith("clickhouse://")
    assert "clickhouse-data:/var/lib/clickhouse" in profiled["clickhouse"]["volumes"]


def test_compose_runs_the_four_services_with_volumes_and_documented_ports() -> None:
    compose = load_yaml(ROOT / "docker-compose.yml")
    services = {name: s for name, s in compose["services"].items() if "profiles" not in s}
    assert set(services) == {"monitor", "prometheus", "alertmanager", "grafana"}
    for name, service in services.items():
        for port in service["ports"]:
            _variable, number, inside = _documented_port(name, port)
            assert number == inside, port
        named = [v.split(":")[0] for v in service.get("volumes", []) if not v.startswith((".", "/", "$"))]
        assert named, f"{name} keeps no data in a volume"
        assert set(named) <= set(compose["volumes"])
    assert services["monitor"]["build"] == "."
    assert "AI_USAGE_MODE" in services["monitor"]["environment"]
    assert "demo" in " ".join(services["monitor"]["command"])
    assert "./prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]


def test_dockerfile_copies_only_existing_project_files_not_ignored() -> None:
    patterns = _dockerignore()
    copies = _copies()
    assert copies, "the Dockerfile copies nothing"
    for sources, _destination in copies:
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY source {source} does not exist"
            assert path.resolve().is_relative_to(ROOT), f"COPY source {source} is outside the context"
            assert not _ignored(source.rstrip("/"), patterns), f"{source} is excluded by .dockerignore"
    # the context holds nothing private
    for private in (".venv", "records/ai_usage", ".git", "tests", "records"):
        assert _ignored(private, patterns), f"{private} would be sent to the Docker daemon"


def test_dockerfile_installs_the_package_from_the_context_and_serves() -> None:
    instructions = _instructions()
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert re.search(r'pip install "?\.(\[[a-z,]+\])?"?', runs), "the image must install the copied project"
    assert ("ENTRYPOINT", '["ai-usage-monitor"]') in instructions
    assert ("CMD", '["serve"]') in instructions
    assert ("EXPOSE", "10090") in instructions
    user = [args for keyword, args in instructions if keyword == "USER"]
    assert user and user[-1] != "root"


def test_the_copied_files_build_the_package(tmp_path: Path) -> None:
    """What `pip install .` in the image does, on a context holding only the COPY sources."""
    context = tmp_path / "context"
    context.mkdir()
    patterns = _dockerignore()
    for sources, _destination in _copies():
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(
                    path,
                    context / source,
                    ignore=lambda folder, names: [
                        n for n in names if _ignored(str((Path(folder) / n).relative_to(ROOT)), patterns)
                    ],
                )
            else:
                shutil.copy(path, context / source)
    assert not list(context.rglob("__pycache__"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = list((tmp_path / "dist").glob("ai_usage_monitor-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "ai_usage_monitor/cli.py" in names
    assert "ai_usage_monitor/api/routes/alerts.py" in names
    assert "ai_usage_monitor/api/static/ai_usage_monitor.html" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "ai-usage-monitor = ai_usage_monitor.cli:main" in archive.read(entry_points).decode()
