"""Debian's Alertmanager as a real process for end-to-end tests, on a free 127.0.0.1 port."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from tests.support.processes import ServerProcess

__all__ = ["AlertmanagerServer"]


class AlertmanagerServer(ServerProcess):
    """A running ``prometheus-alertmanager``: no clustering, storage in ``workdir``."""

    name: ClassVar[str] = "alertmanager"

    @classmethod
    def start(
        cls, workdir: Path, config: Mapping[str, Any], ready_timeout: float = 20.0
    ) -> AlertmanagerServer:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise RuntimeError("Alertmanager is not installed (Debian package 'prometheus-alertmanager')")
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(dict(config), allow_unicode=True), encoding="utf-8")
        return cls.launch(
            workdir,
            lambda port: [
                binary,
                f"--config.file={config_path}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            client_timeout=5.0,
            ready_timeout=ready_timeout,
        )

    def alerts(self) -> list[dict[str, Any]]:
        answer = self.client.get("/api/v2/alerts")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found
