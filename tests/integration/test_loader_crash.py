"""Crash safety of the loader as a real process: killed after the Iceberg commit, before the ack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_bus.rpc import call
from autoloader_contracts.events import BatchLoaded, BatchPlanned, FileRef
from autoloader_contracts.ingestion import DestinationSpec, FormatSpec, SourceSpec
from autoloader_contracts.subjects import rpc_subject
from autoloader_core.ids import new_id

pytestmark = pytest.mark.integration


def loader_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "autoloader_loader"], env={**os.environ, **env},
                                stdout=output, stderr=subprocess.STDOUT)


async def test_loader_killed_after_commit_does_not_duplicate_rows_on_restart(
    nats_url: str, database_url: str, bus: Bus, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(500)))
    tenant, run_id = new_id("tnt"), new_id("run")
    batch = BatchPlanned(
        event_id=new_id("evt"), occurred_at=datetime.now(UTC), tenant_id=tenant, aggregate_id=new_id("bat"),
        actor="service:discovery", correlation_id=run_id, ingestion_id="ing_crash", run_id=run_id,
        batch_number=1, files=[FileRef(path="a.csv", size=(landing / "a.csv").stat().st_size,
                                       modified_at=datetime.now(UTC))],
        source=SourceSpec(type="local", path=str(landing)), format=FormatSpec(type="csv"),
        destination=DestinationSpec(database="db", table="crash"),
    )
    env = {"AUTOLOADER_NATS_URL": nats_url, "AUTOLOADER_DATABASE_URL": database_url,
           "AUTOLOADER_LOCAL_ROOTS": str(landing), "AUTOLOADER_WAREHOUSE": (tmp_path / "wh").as_uri(),
           "AUTOLOADER_ACK_WAIT_SECONDS": "2", "AUTOLOADER_DATA_DIR": str(tmp_path)}
    store = EventStore(bus)
    await store.append(batch)

    log = tmp_path / "loader.log"
    crashing = loader_process({**env, "AUTOLOADER_FAULT": "loader.after_commit"}, log)
    code = await asyncio.to_thread(crashing.wait, 60)
    assert code == 137, log.read_text()
    assert [type(s.event) for s in await store.read(tenant, "batch", batch.aggregate_id)] == [BatchPlanned]

    restarted = loader_process(env, log)
    try:
        loaded = None
        for _ in range(300):
            events = [s.event for s in await store.read(tenant, "batch", batch.aggregate_id)]
            loaded = next((e for e in events if isinstance(e, BatchLoaded)), None)
            if loaded is not None:
                break
            await asyncio.sleep(0.1)
        assert isinstance(loaded, BatchLoaded), log.read_text()
        assert loaded.already_committed
        assert (loaded.rows, [f.rows for f in loaded.files]) == (500, [500])
        info = await call(bus, rpc_subject("loader", "table_info"),
                          {"tenant_id": tenant, "catalog": "lake", "database": "db", "table": "crash"})
    finally:
        restarted.terminate()
        await asyncio.to_thread(restarted.wait, 20)
    assert info["row_count"] == 500
    assert len(info["snapshots"]) == 1
    assert loaded.snapshot_id == info["snapshots"][0]["snapshot_id"]
