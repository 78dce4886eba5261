"""Names and safe opening of the report files the API writes into ``settings.reports_path``.

Only a bare name matching ``usage_report_YYYYMMDD_HHMMSS[_N].(json|csv)`` is ever opened, relative to the
reports folder, without following links, and only when it is a plain file with a single link.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import datetime, tzinfo
from pathlib import Path

__all__ = [
    "REPORT_NAME",
    "ReportNameError",
    "ReportNotFound",
    "is_report_name",
    "new_report_path",
    "open_report",
]

REPORT_NAME = re.compile(r"usage_report_[0-9]{8}_[0-9]{6}(?:_[0-9]{1,6})?\.(?:json|csv)")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class ReportNameError(ValueError):
    """The name is not one a report of this server could have."""


class ReportNotFound(LookupError):
    """No plain report file of that name in the reports folder."""


def is_report_name(name: str) -> bool:
    return REPORT_NAME.fullmatch(name) is not None


def new_report_path(reports_dir: Path, tz: tzinfo, fmt: str, now: datetime | None = None) -> Path:
    """Create (exclusively, so two exports never share a file) and return a new empty report file."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(tz)).astimezone(tz).strftime("%Y%m%d_%H%M%S")
    for attempt in range(1, 1_000_000):
        suffix = "" if attempt == 1 else f"_{attempt}"
        path = reports_dir / f"usage_report_{stamp}{suffix}.{fmt}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"no free report name for {stamp} in {reports_dir}")


def open_report(reports_dir: Path, name: str) -> tuple[int, int]:
    """Open a report for reading; return ``(fd, size)``. The caller closes the descriptor."""
    if not is_report_name(name):
        raise ReportNameError(name)
    try:
        dir_fd = os.open(reports_dir, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError as exc:
        raise ReportNotFound(name) from exc
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:  # missing, a symbolic link (ELOOP), unreadable, …
        raise ReportNotFound(name) from exc
    finally:
        os.close(dir_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise ReportNotFound(name)
    return fd, info.st_size
