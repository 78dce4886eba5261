"""POSTing JSON with the standard library: one place for timeouts, status codes and robots' error codes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ai_usage_monitor.notify.channels.base import DeliveryError

__all__ = ["post_json", "require_zero_code"]

_MAX_ERROR_CHARS = 300


def _excerpt(body: bytes) -> str:
    return body.decode("utf-8", "replace").strip()[:_MAX_ERROR_CHARS]


def post_json(
    url: str, payload: Any, timeout: float, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """POST ``payload`` as UTF-8 JSON; returns status and body of a 2xx answer, else ``DeliveryError``."""
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}: {_excerpt(exc.read())}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DeliveryError(f"{type(reason).__name__}: {reason}") from None


def require_zero_code(body: bytes, code_keys: tuple[str, ...], message_keys: tuple[str, ...]) -> None:
    """Robots answer HTTP 200 with an error code in JSON: a non-zero ``code_keys`` value is a failure."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise DeliveryError(f"the robot answered something that is not JSON: {_excerpt(body)}") from None
    if not isinstance(answer, dict):
        raise DeliveryError(f"unexpected answer: {_excerpt(body)}")
    for key in code_keys:
        code = answer.get(key)
        if code not in (None, 0):
            text = next((str(answer[k]) for k in message_keys if answer.get(k)), "")
            raise DeliveryError(f"{key} {code}: {text}"[:_MAX_ERROR_CHARS])
