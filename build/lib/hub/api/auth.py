"""Bearer-token authentication of the admin API (RFC 6750).

The token is the hub's ``admin_token`` (configured, or generated once into
``<data_dir>/admin.token``). It is compared in constant time; a missing or
wrong token gets 401 with a ``WWW-Authenticate: Bearer`` challenge.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.api.deps import HubDep
from hub.api.errors import ApiError

REALM = "hub"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The admin token: `admin_token` in the settings, or `<data_dir>/admin.token`.",
)


def _challenge(error: str | None) -> dict[str, str]:
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}"'
    return {"WWW-Authenticate": value}


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def require_admin(
    hub: HubDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Let the request through only with ``Authorization: Bearer <admin token>``."""
    if credentials is None:
        raise ApiError(401, "missing bearer token", None, _challenge(None))
    if not token_matches(credentials.credentials, hub.admin_token):
        raise ApiError(401, "invalid bearer token", None, _challenge("invalid_token"))
