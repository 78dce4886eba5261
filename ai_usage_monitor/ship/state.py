"""What a shipper has shipped: per record file, the offset ClickHouse acknowledged, in a small JSON file under
``<records_dir>/.ship/`` replaced atomically after every acknowledged batch (never before)."""

from __future__ import annotations

import base64
import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["STATE_DIR", "Position", "ShipState", "state_path"]

#: The folder under the records folder holding one state file per shipper.
STATE_DIR = ".ship"
_STATE_VERSION = 1


def state_path(records_dir: Path, name: str) -> Path:
    """``<records_dir>/.ship/<name>.json``, the name reduced to characters safe in a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "shipper"
    return Path(records_dir) / STATE_DIR / f"{safe}.json"


@dataclass(slots=True)
class Position:
    """How far one record file was read: its name and inode then, its first bytes (to recognise it when
    copied or compressed) and the offset in its (decompressed) stream."""

    name: str
    inode: int
    head: bytes
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inode": self.inode,
            "head": base64.b64encode(self.head).decode(),
            "offset": self.offset,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        return cls(str(data["name"]), int(data["inode"]), base64.b64decode(data["head"]), int(data["offset"]))


@dataclass(slots=True)
class ShipState:
    """The committed offsets of one shipper, with its running totals."""

    path: Path
    files: dict[str, Position] = field(default_factory=dict)
    target: str = ""
    records: int = 0
    batches: int = 0
    last_success: float | None = None

    @classmethod
    def load(cls, path: Path) -> ShipState:
        """The state saved at ``path``, or an empty one when there is none yet."""
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls(path)
        return cls(
            path,
            {name: Position.from_json(p) for name, p in data.get("files", {}).items()},
            str(data.get("target", "")),
            int(data.get("records", 0)),
            int(data.get("batches", 0)),
            data.get("last_success"),
        )

    def save(self) -> None:
        """Write the state to a new file, flush it to disk and rename it over the old one: a crash leaves
        either the old state or the new, never a torn one."""
        body = orjson.dumps(
            {
                "version": _STATE_VERSION,
                "target": self.target,
                "records": self.records,
                "batches": self.batches,
                "last_success": self.last_success,
                "files": {name: p.to_json() for name, p in sorted(self.files.items())},
            }
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
