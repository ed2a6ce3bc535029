"""Bearer authentication: tenant API keys for ``/api/v1``, the admin token for tenant management."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from autoloader_api.rate_limit import TokenBuckets
from autoloader_api.tenants import Caller, TenantStore
from autoloader_core.settings import Secret

SECURITY_SCHEME = "bearer"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header, if any."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def provide_caller(
    request: Request[Any, Any, Any],
    tenants: NamedDependency[TenantStore],
    rate_limits: NamedDependency[TokenBuckets],
) -> Caller:
    """Dependency: the tenant behind the request's API key, within its request rate.

    Raises:
        NotAuthorizedException: The key is missing, unknown or revoked (401).
        RateLimited: The tenant's request rate is used up (429 with ``Retry-After``).
    """
    token = bearer_token(request)
    if token is None:
        raise NotAuthorizedException("missing API key; send 'Authorization: Bearer <your tenant API key>'")
    caller = await tenants.authenticate(token)
    if caller is None:
        raise NotAuthorizedException("invalid or revoked API key; ask your administrator for a new one")
    rate_limits.check(caller.tenant_id)
    return caller


def admin_guard(admin_token: Secret) -> Any:
    """Return a guard that admits only requests bearing the admin token."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not admin_token:
            raise NotAuthorizedException("the admin API is disabled; set AUTOLOADER_ADMIN_TOKEN to enable it")
        token = bearer_token(connection) or ""
        if not hmac.compare_digest(token.encode(), admin_token.reveal().encode()):
            raise NotAuthorizedException(
                "admin endpoints need 'Authorization: Bearer <AUTOLOADER_ADMIN_TOKEN>'"
            )

    return guard
