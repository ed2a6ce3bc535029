"""Which tenant a local folder belongs to: the first one whose ingestion used it.

Every tenant shares the deployment's allowed local roots, so the roots alone do not keep tenants apart. A folder
is claimed when an ingestion on it is created or changed to it; from then on another tenant's ingestion, preview,
cost estimate or connection test on that folder, on a folder inside it or on a folder around it is refused like a
folder outside the roots (422 on ``source.path``). Claims outlive the ingestion that made them: the files in the
folder stay that tenant's.
"""

from __future__ import annotations

import os
from pathlib import Path

from autoloader_core.errors import FieldError, ValidationFailed
from autoloader_db.database import Pool

# One lock for every claim: checking for overlaps and inserting must not interleave between two tenants.
_CLAIM_LOCK = 7_400_150_001
_OVERLAP = """SELECT path FROM api.local_folders
               WHERE tenant_id <> $1 AND (path = $2 OR starts_with($2, path || '/') OR starts_with(path, $2 || '/'))
               LIMIT 1"""


class LocalFolders:
    """The claims of local folders, in PostgreSQL (schema ``api``)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def check(self, tenant_id: str, folder: Path) -> None:
        """Refuse ``folder`` when another tenant's claim covers it, lies inside it or around it.

        Raises:
            ValidationFailed: On ``source.path``.
        """
        if await self._pool.fetchval(_OVERLAP, tenant_id, _text(folder)) is not None:
            raise _refused(folder)

    async def claim(self, tenant_id: str, folder: Path) -> None:
        """Check ``folder`` and record it as ``tenant_id``'s (a folder it has claimed already is fine).

        Raises:
            ValidationFailed: On ``source.path``; nothing is recorded.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK)
            if await conn.fetchval(_OVERLAP, tenant_id, _text(folder)) is not None:
                raise _refused(folder)
            await conn.execute(
                "INSERT INTO api.local_folders (path, tenant_id) VALUES ($1, $2) ON CONFLICT (path) DO NOTHING",
                _text(folder),
                tenant_id,
            )


def _text(folder: Path) -> str:
    return str(folder).rstrip(os.sep) or os.sep


def _refused(folder: Path) -> ValidationFailed:
    return ValidationFailed(
        [
            FieldError(
                "source.path",
                f"path {str(folder)!r} is not available to this tenant: another tenant's ingestions read that "
                "folder (or one inside or around it); use a folder of your own inside the allowed roots",
            )
        ]
    )
