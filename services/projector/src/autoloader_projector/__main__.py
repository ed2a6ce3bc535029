"""``python -m autoloader_projector [rebuild]``: run the projector, or reset the read models for a replay."""

from __future__ import annotations

import asyncio
import sys

from autoloader_bus.runtime import run_service
from autoloader_core.settings import Settings
from autoloader_db.database import create_pool
from autoloader_projector.app import body, reset


async def _rebuild(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, max_size=1)
    try:
        await reset(pool)
    finally:
        await pool.close()


def main() -> None:
    """Entry point."""
    if sys.argv[1:] == ["rebuild"]:
        asyncio.run(_rebuild(Settings.from_env()))
        print("read models reset; the running projector is replaying the event log")
        return
    run_service("projector", body)


if __name__ == "__main__":
    main()
