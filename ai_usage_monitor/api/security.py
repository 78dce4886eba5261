"""Optional bearer token for ``/api/*``: when ``settings.api_token`` (``AI_USAGE_API_TOKEN``) is set, every
API request must carry ``Authorization: Bearer <token>``.

``/health``, ``/metrics``, the static page and ``/api/ai_usage/config`` stay open: the first two so that
probes and Prometheus need no secret (they reveal only aggregate numbers), the config so the page can
learn that it must ask the user for a token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ai_usage_monitor.api.deps import SettingsDep

__all__ = ["bearer_scheme", "require_token", "token_matches"]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="AI_USAGE_API_TOKEN",
    description="Required only when the server was started with AI_USAGE_API_TOKEN set",
)


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the answer time tells nothing about the token."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    expected = settings.api_token
    if not expected:
        return
    if not token_matches(credentials.credentials if credentials else None, expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token: send 'Authorization: Bearer <AI_USAGE_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
