"""Discovery rules on real NATS and Postgres: activation baseline, incremental listing, backlog, settling."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from autoloader_bus.connection import Bus
from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import DiscoverySpec, SourceSpec
from autoloader_db.database import create_pool
from autoloader_discovery.app import body as discovery
from autoloader_projector.app import body as projector
from tests.discovery_support import DiscoveryHarness, discovery_settings, store_credentials
from tests.source_envs.base import SourcePlace
from tests.support import eventually, running

pytestmark = pytest.mark.integration


def _folder(data_dir: Path, name: str, files: list[str]) -> Path:
    folder = data_dir / "landing" / name
    folder.mkdir(parents=True)
    for file in files:
        (folder / file).write_text("id\n1\n")
    return folder


def _local(folder: Path) -> SourceSpec:
    return SourceSpec(type="local", path=str(folder), file_pattern="*.csv")


async def test_files_present_at_activation_are_skipped_for_good(nats_url: str, database_url: str,
                                                               data_dir: Path, bus: Bus) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    folder = _folder(data_dir, "baseline", ["old-1.csv", "old-2.csv"])
    pool = await create_pool(database_url)
    async with running(discovery_settings(nats_url, database_url, data_dir), discovery=discovery,
                       projector=projector):
        ingestion = await harness.create_ingestion(
            _local(folder), discovery=DiscoverySpec(include_existing_files=False)
        )

        async def skipped_rows() -> list[tuple[str, str]]:
            rows = await pool.fetch("SELECT path, state FROM read.files WHERE ingestion_id = $1 ORDER BY path",
                                    ingestion)
            return [(r["path"], r["state"]) for r in rows]

        assert await eventually(skipped_rows, what="skipped files") == [("old-1.csv", "skipped"),
                                                                          ("old-2.csv", "skipped")]
        (folder / "new.csv").write_text("id\n2\n")
        paths, completed = await harness.run_and_load(ingestion)
        assert paths == ["new.csv"]
        assert completed.metrics.files_processed == 1
    await pool.close()


async def test_a_failed_activation_baseline_makes_runs_refuse_to_load_until_a_reset(
    nats_url: str, database_url: str, data_dir: Path, bus: Bus
) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    folder = data_dir / "landing" / "not_yet"  # missing at activation: the baseline cannot be recorded
    async with running(discovery_settings(nats_url, database_url, data_dir), discovery=discovery):
        ingestion = await harness.create_ingestion(
            _local(folder), discovery=DiscoverySpec(include_existing_files=False)
        )
        await asyncio.sleep(0.5)
        folder.mkdir(parents=True)
        (folder / "old.csv").write_text("id\n1\n")

        refused = await harness.completed(await harness.request_run(ingestion))
        assert refused.status == "failed"
        assert [e.error_type for e in refused.errors] == ["baseline_failed"]
        assert "does not exist" in refused.errors[0].message
        assert "reset the ingestion" in refused.errors[0].message
        assert await harness.events_planned() == []

        reset = await harness.completed(await harness.request_run(ingestion, ev.RunOperation(kind="reset")))
        assert (reset.status, reset.metrics.files_skipped) == ("success", 1)
        (folder / "new.csv").write_text("id\n2\n")
        paths, completed = await harness.run_and_load(ingestion)
        assert paths == ["new.csv"]
        assert completed.status == "success"


async def test_limits_leave_a_backlog_that_later_runs_take(nats_url: str, database_url: str, data_dir: Path,
                                                           bus: Bus) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    folder = _folder(data_dir, "backlog", [f"f{i}.csv" for i in range(5)])
    pool = await create_pool(database_url)
    async with running(discovery_settings(nats_url, database_url, data_dir), discovery=discovery,
                       projector=projector):
        ingestion = await harness.create_ingestion(_local(folder), discovery=DiscoverySpec(max_files_per_run=2))
        first, done = await harness.run_and_load(ingestion)
        assert first == ["f0.csv", "f1.csv"]
        assert done.metrics.backlog_files == 3

        async def backlog() -> int | None:
            return await pool.fetchval("SELECT backlog_files FROM read.ingestions WHERE id = $1", ingestion) or None

        assert await eventually(backlog, what="backlog in the read model") == 3
        second, _ = await harness.run_and_load(ingestion)
        third, done = await harness.run_and_load(ingestion)
        assert (second, third) == (["f2.csv", "f3.csv"], ["f4.csv"])
        assert done.metrics.backlog_files == 0
    await pool.close()


async def test_incremental_listing_resumes_and_a_periodic_full_listing_catches_up(
    nats_url: str, database_url: str, data_dir: Path, bus: Bus
) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    folder = _folder(data_dir, "incremental", ["2024-01-01.csv", "2024-01-02.csv"])
    rules = DiscoverySpec(incremental_listing=True, full_listing_every_runs=3)
    async with running(discovery_settings(nats_url, database_url, data_dir), discovery=discovery,
                       projector=projector):
        ingestion = await harness.create_ingestion(_local(folder), discovery=rules)
        assert (await harness.run_and_load(ingestion))[0] == ["2024-01-01.csv", "2024-01-02.csv"]
        (folder / "2024-01-03.csv").write_text("id\n3\n")
        (folder / "2023-12-31.csv").write_text("id\n0\n")  # sorts before where the listing resumes
        assert (await harness.run_and_load(ingestion))[0] == ["2024-01-03.csv"]
        assert (await harness.run_and_load(ingestion))[0] == []
        assert (await harness.run_and_load(ingestion))[0] == ["2023-12-31.csv"]  # the full listing


async def test_ftp_files_still_being_written_wait_for_a_later_run(nats_url: str, database_url: str,
                                                                data_dir: Path, bus: Bus,
                                                                ftp_place: SourcePlace) -> None:
    harness = DiscoveryHarness(EventStore(bus))
    await ftp_place.put("steady.csv", b"id\n1\n")
    await ftp_place.put("growing.csv", b"id\n1\n")
    rules = DiscoverySpec(settle_interval_seconds=3.0)
    settings = discovery_settings(nats_url, database_url, data_dir)
    async with running(settings, discovery=discovery, projector=projector):
        ref = await store_credentials(database_url, harness.tenant, ftp_place.credentials or {})
        source = msgspec.structs.replace(ftp_place.spec(pattern="*.csv"), credential_ref=ref)
        ingestion = await harness.create_ingestion(source, discovery=rules)
        run = await harness.request_run(ingestion)

        async def started() -> bool:
            return any(e.aggregate_id == run for e in await harness.events(ev.RunStarted))

        await eventually(started, what="run started")
        await asyncio.sleep(1.5)  # between the two listings
        await ftp_place.put("growing.csv", b"id\n1\n2\n3\n")
        assert await harness.planned_paths(run) == ["steady.csv"]
        await harness.act_as_loader()
        assert (await harness.completed(run)).metrics.files_processed == 1
        later, _ = await harness.run_and_load(ingestion)
        assert later == ["growing.csv"]
