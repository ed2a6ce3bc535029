"""PostgreSQL access: pools, database creation and migrations.

Only this library imports asyncpg; services use the aliases below and get our own error types.
A lost or refused connection (the server is down, restarting or shutting down) surfaces as
:class:`DatabaseUnavailable`, a :class:`TransientError`: consumers nak and retry it, the API
answers 503. The pool opens fresh connections once the server is back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeAlias, TypeVar

import asyncpg
import msgspec

from autoloader_core.errors import TransientError
from autoloader_core.tracing import SpanKind, span

log = logging.getLogger(__name__)

Pool: TypeAlias = asyncpg.Pool
Connection: TypeAlias = asyncpg.Connection
Record: TypeAlias = asyncpg.Record
UniqueViolation = asyncpg.UniqueViolationError

MIGRATION_LOCK = 727_001
R = TypeVar("R")

# Server-side classes meaning "this connection (or server) is going away or not there yet":
# SQLSTATE class 08 (connection exceptions) and class 57 (operator intervention: admin/crash
# shutdown, cannot connect now, query cancelled), and too many connections.
_UNAVAILABLE_SERVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# asyncpg reports a connection that died under it as an InterfaceError with one of these texts;
# other InterfaceErrors are programming mistakes and stay what they are.
_CLOSED_CONNECTION_TEXTS = ("connection is closed", "connection was closed", "pool is closing")


class DatabaseUnavailable(TransientError):
    """PostgreSQL cannot be reached or dropped the connection; retry once it is back."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means PostgreSQL is unreachable or lost the connection (not a bad query).

    A bare ``OSError`` does not count here (it may be a file error); raised from an asyncpg call
    it is already a :class:`DatabaseUnavailable`.
    """
    if isinstance(exc, (DatabaseUnavailable, *_UNAVAILABLE_SERVER_ERRORS)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return any(text in str(exc) for text in _CLOSED_CONNECTION_TEXTS)
    return False


def is_unstorable_text(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL refusing a text value it cannot store (a NUL byte, an invalid sequence).

    That is bad input, not a server fault: the caller should answer with a validation error.
    """
    return isinstance(exc, (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError))


def _lost_connection(exc: BaseException) -> bool:
    # From an asyncpg call, an OSError (refused, reset, timed out) is always the connection.
    return isinstance(exc, OSError) or is_unavailable(exc)


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The :class:`DatabaseUnavailable` to raise for connection error ``exc``."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    return DatabaseUnavailable(f"PostgreSQL is unavailable ({type(exc).__name__}: {exc}); retry shortly")


def _translating(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> R:
        try:
            return await method(*args, **kwargs)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if _lost_connection(exc):
                raise unavailable(exc) from exc
            raise

    return call


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection whose connection errors are :class:`DatabaseUnavailable`."""


def _traced(name: str, method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """``method`` in a CLIENT span per statement (the SQL text has no values: they are parameters)."""

    @functools.wraps(method)
    async def call(connection: Any, *args: Any, **kwargs: Any) -> R:
        statement = args[0] if args and isinstance(args[0], str) else ""
        attributes = {"db.system": "postgresql", "db.operation.name": name, "db.query.text": statement[:MAX_TRACED_SQL]}
        with span(f"postgres {name}", kind=SpanKind.CLIENT, attributes=attributes):
            return await method(connection, *args, **kwargs)

    return call


MAX_TRACED_SQL = 500
"""Characters of a statement kept on its span (enough to recognise it)."""

# Every statement a service runs goes through one of these (transactions run execute too).
for _name in (
    "execute", "executemany", "fetch", "fetchval", "fetchrow", "fetchmany", "prepare",
    "copy_from_table", "copy_from_query", "copy_to_table", "copy_records_to_table",
):
    setattr(_Connection, _name, _traced(_name, _translating(getattr(asyncpg.Connection, _name))))


class _Pool(asyncpg.Pool):  # type: ignore[misc]
    """An asyncpg pool whose failure to open a connection is :class:`DatabaseUnavailable`."""

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 - asyncpg's signature
        # asyncpg's one acquire path (acquire(), and fetch/execute on the pool, use it).
        return await _translating(super()._acquire)(timeout)


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10, reset_sessions: bool = True) -> Pool:
    """Open a connection pool; its connection errors raise :class:`DatabaseUnavailable`.

    Args:
        url: The database URL.
        min_size: Connections opened at once and kept.
        max_size: Most connections open at a time.
        reset_sessions: Reset each connection's session when it returns to the pool (asyncpg's default:
            one more round trip per checkout, ``RESET ALL; UNLISTEN *; ...``). A pool whose users never
            change session state (no ``SET``, ``LISTEN``, session advisory locks, cursors outside a
            transaction) can skip it; an open transaction is still rolled back either way.

    Raises:
        TransientError: PostgreSQL is unreachable (or refuses us: a wrong URL is retried and logged,
            since at start-up the server or the database may simply not be there yet).
    """
    pool = _Pool(
        url,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        reset=None if reset_sessions else _keep_session,
        loop=None,
        connection_class=_Connection,
        record_class=asyncpg.Record,
    )
    try:
        opened: Pool = await pool
    except (OSError, asyncpg.PostgresError, TransientError) as exc:
        await pool.close()
        raise TransientError(f"cannot reach PostgreSQL: {exc}") from exc
    return opened


async def close_pool(pool: Pool, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Close ``pool`` gracefully, or terminate its connections after ``timeout`` seconds.

    A graceful close waits for every connection to be released and for the server to answer;
    a stopping service must not wait for a server that is gone.
    """
    try:
        await asyncio.wait_for(pool.close(), timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TransientError):
        log.warning("closing the PostgreSQL pool timed out; terminating its connections")
        pool.terminate()


async def _keep_session(conn: Connection) -> None:
    """The pool's reset step when sessions are not reset (asyncpg has already rolled back a transaction)."""


def decode_jsonb(text: str) -> Any:
    """A jsonb value as Python values (msgspec: several times faster than ``json.loads`` on run metrics).

    jsonb also holds numbers beyond a float's range (``1e400``), which msgspec refuses: those, and
    anything else it refuses, are read by ``json.loads`` as before.
    """
    try:
        return _decode_json(text)
    except msgspec.MsgspecError:
        return json.loads(text)


_decode_json = msgspec.json.Decoder().decode


async def _init_connection(conn: Connection) -> None:
    # jsonb columns come back as Python values, not strings.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=decode_jsonb, schema="pg_catalog")


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
