"""Which app (``service``) and which machine (``host``) a record comes from, worked out once per process.

``service``: the ``service`` setting (``AI_USAGE_SERVICE``), else OpenTelemetry's ``service.name`` as the
OTel SDK resolves it, else the script's name (docs/architecture.md §4). Nothing here imports the OTel SDK:
an SDK tracer provider the app already installed is read through the API, the rest from the environment.
"""

from __future__ import annotations

import os
import socket
import sys
from functools import cache
from pathlib import Path
from urllib.parse import unquote

__all__ = ["host_name", "otel_service_name", "resolve_service", "script_name"]

#: The SDK's ``service.name`` when none was configured (``unknown_service`` or ``unknown_service:<exe>``).
_OTEL_UNKNOWN = "unknown_service"
#: The name of an interactive interpreter or ``python -c`` (no script to name the app after).
_INTERPRETER = "python"


@cache
def host_name() -> str:
    """This machine's name (``socket.gethostname()``), asked once."""
    return socket.gethostname()


def resolve_service(setting: str | None) -> str:
    """The app's name for its records: ``setting``, else OTel's ``service.name``, else the script name."""
    if setting and setting.strip():
        return setting.strip()
    return otel_service_name() or script_name()


def otel_service_name() -> str | None:
    """``service.name`` as the OTel SDK resolves it, ``None`` when none was configured.

    The installed SDK tracer provider's resource first (its attributes given in code win over the
    environment there), then ``OTEL_SERVICE_NAME``, then ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``.
    """
    name = _provider_service_name()
    if name is not None:
        return name
    name = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if name:
        return name
    for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == "service.name" and unquote(value.strip()):
            return unquote(value.strip())
    return None


def _provider_service_name() -> str | None:
    """``service.name`` of the global tracer provider's resource, when the app installed an SDK one."""
    if "opentelemetry.sdk.trace" not in sys.modules:
        return None  # no SDK provider can be installed; asking the API could load one
    from opentelemetry import trace

    resource = getattr(trace.get_tracer_provider(), "resource", None)
    attributes = getattr(resource, "attributes", None) or {}
    name = attributes.get("service.name")
    if isinstance(name, str) and name.strip() and not name.startswith(_OTEL_UNKNOWN):
        return name.strip()
    return None


def script_name() -> str:
    """The running script's file name without suffix (a package's name for ``python -m package``);
    ``python`` for an interactive interpreter or ``python -c``."""
    argv = getattr(sys, "argv", None) or [""]
    first = argv[0] or ""
    if first in ("", "-c", "-"):
        return _INTERPRETER
    path = Path(first)
    if path.stem == "__main__" and path.parent.name:
        return path.parent.name
    return path.stem or _INTERPRETER
