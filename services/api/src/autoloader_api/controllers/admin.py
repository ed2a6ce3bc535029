"""Tenant management with the admin token."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from autoloader_api.schemas import CreateTenant, TenantCreated
from autoloader_api.tenants import TenantStore


class AdminController(Controller):
    """``/api/v1/admin``: guarded by the admin token (set in the composition root)."""

    path = "/admin"
    tags = ["admin"]

    @post("/tenants", status_code=201, summary="Create a tenant and its first API key")
    async def create_tenant(
        self, *, tenants: NamedDependency[TenantStore], data: JSONBody[CreateTenant]
    ) -> TenantCreated:
        """Create a tenant; the API key is shown only in this response."""
        tenant_id, key = await tenants.create(data.name)
        return TenantCreated(tenant_id=tenant_id, name=data.name, api_key=key)
