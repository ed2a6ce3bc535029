"""PostgreSQL access: pools, database creation and migrations.

Only this library imports asyncpg; services use the aliases below and get our own error types.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any, TypeAlias

import asyncpg

from autoloader_core.errors import TransientError

log = logging.getLogger(__name__)

Pool: TypeAlias = asyncpg.Pool
Connection: TypeAlias = asyncpg.Connection
Record: TypeAlias = asyncpg.Record
UniqueViolation = asyncpg.UniqueViolationError

MIGRATION_LOCK = 727_001


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """Open a connection pool.

    Raises:
        TransientError: PostgreSQL is unreachable.
    """
    try:
        pool: Pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, init=_init_connection
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise TransientError(f"cannot reach PostgreSQL: {exc}") from exc
    return pool


async def _init_connection(conn: Connection) -> None:
    # jsonb columns come back as Python values, not strings.
    import json

    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database ``name`` on the server of ``admin_url`` unless it exists."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"invalid database name {name!r}")
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("autoloader_db") / "migrations"
    return sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))


async def migrate(url: str) -> list[str]:
    """Apply pending migrations in order, under an advisory lock; return the names applied."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS public.schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM public.schema_migrations")}
        applied = []
        for name, sql in _migrations():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO public.schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
            log.info("applied migration", extra={"migration": name})
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await conn.close()


def record_to_dict(record: Any) -> dict[str, Any]:
    """Convert a row to a plain dict."""
    return dict(record.items())
