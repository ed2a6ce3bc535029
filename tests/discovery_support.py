"""A test harness for discovery: append ingestion and run events, read what discovery publishes,
and stand in for the loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoloader_bus.event_store import EventStore
from autoloader_contracts import events as ev
from autoloader_contracts.ingestion import DestinationSpec, DiscoverySpec, FormatSpec, IngestionConfig, SourceSpec
from autoloader_contracts.subjects import events_of
from autoloader_core.crypto import SecretBox, generate_key_spec
from autoloader_core.ids import new_id
from autoloader_core.settings import Secret, Settings
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import create_pool
from tests.support import envelope, eventually

SECRET_KEYS = generate_key_spec("test1")


def discovery_settings(nats_url: str, database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for discovery/projector bodies run in-process (with a secret key for credentials)."""
    return Settings(nats_url=nats_url, database_url=database_url, data_dir=data_dir,
                    secret_keys=Secret(SECRET_KEYS), **overrides)


async def store_credentials(database_url: str, tenant: str, fields: dict[str, str]) -> str:
    """Encrypt ``fields`` into the credential store the way the API does; return the ref."""
    pool = await create_pool(database_url, max_size=1)
    try:
        return await CredentialStore(pool, SecretBox.from_spec(SECRET_KEYS)).save(tenant, fields)
    finally:
        await pool.close()


@dataclass
class DiscoveryHarness:
    """One tenant's view of the event log."""

    store: EventStore
    tenant: str = field(default_factory=lambda: new_id("tnt"))

    async def create_ingestion(self, source: SourceSpec, *, discovery: DiscoverySpec | None = None,
                               status: str = "active", **config_fields: Any) -> str:
        """Append IngestionCreated and return the ingestion id (``config_fields``: more IngestionConfig fields)."""
        ingestion = new_id("ing")
        config = IngestionConfig(
            name="orders", source=source, format=FormatSpec(type="csv"),
            destination=DestinationSpec(database="sales", table="orders"), discovery=discovery or DiscoverySpec(),
            **config_fields,
        )
        await self.store.append(
            ev.IngestionCreated(**envelope(self.tenant, ingestion), config=config, status=status),  # type: ignore[arg-type]
            expected_version=0,
        )
        return ingestion

    async def request_run(self, ingestion: str, operation: ev.RunOperation | None = None) -> str:
        """Append a manual RunRequested (of a run-control ``operation``) and return the run id."""
        run = new_id("run")
        await self.store.append(
            ev.RunRequested(**envelope(self.tenant, run), ingestion_id=ingestion, trigger="manual",
                            operation=operation),
            expected_version=0,
        )
        return run

    async def events(self, event_type: type[ev.Event]) -> list[Any]:
        """Every stored event of ``event_type`` (this tenant's)."""
        stored = await self.store.read_subject(events_of(event_type, self.tenant))
        return [s.event for s in stored]

    async def completed(self, run: str) -> ev.RunCompleted:
        """Wait for the run's RunCompleted."""

        async def find() -> ev.RunCompleted | None:
            return next((e for e in await self.events(ev.RunCompleted) if e.aggregate_id == run), None)

        return await eventually(find, what=f"run {run} completed")

    async def planned_paths(self, run: str) -> list[str]:
        """Paths planned by ``run`` (after its FilesDiscovered), in order."""

        async def discovered() -> ev.FilesDiscovered | None:
            return next((e for e in await self.events(ev.FilesDiscovered) if e.aggregate_id == run), None)

        found = await eventually(discovered, what=f"files discovered by {run}")
        await eventually(lambda: self._planned_count(run, len(found.batch_ids)), what="all batch plans")
        plans = [p for p in await self.events(ev.BatchPlanned) if p.run_id == run]
        return [f.path for p in sorted(plans, key=lambda p: p.batch_number) for f in p.files]

    async def events_planned(self) -> list[ev.BatchPlanned]:
        """Every BatchPlanned of this tenant."""
        return list(await self.events(ev.BatchPlanned))

    async def _planned_count(self, run: str, count: int) -> bool:
        return len([p for p in await self.events(ev.BatchPlanned) if p.run_id == run]) >= count

    async def act_as_loader(self, *, spark_seconds: float | None = None, read_by: str | None = None) -> None:
        """Acknowledge every planned batch as loaded with one row per file (each taking ``spark_seconds``)."""
        done = {e.aggregate_id for e in await self.events(ev.BatchLoaded)}
        for plan in await self.events(ev.BatchPlanned):
            if plan.aggregate_id in done:
                continue
            files = [ev.FileResult(path=f.path, rows=1, bytes=f.size) for f in plan.files]
            await self.store.append(
                ev.BatchLoaded(
                    **envelope(plan.tenant_id, plan.aggregate_id), ingestion_id=plan.ingestion_id,
                    run_id=plan.run_id, files=files, rows=len(files), bytes=sum(f.size for f in plan.files),
                    snapshot_id=7, table="lake.sales.orders", duration_seconds=0.1,
                    spark_seconds=spark_seconds, read_by=read_by,
                )
            )

    async def run_and_load(self, ingestion: str) -> tuple[list[str], ev.RunCompleted]:
        """Request a run, load what it planned, and return (planned paths, completion)."""
        run = await self.request_run(ingestion)
        paths = await self.planned_paths(run)
        await self.act_as_loader()
        return paths, await self.completed(run)
