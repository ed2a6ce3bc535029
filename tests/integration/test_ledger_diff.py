"""The page-by-page ledger diff classifies files exactly as the per-path diff it replaced, on every connector.

Before, discovery read every listed path's identities out of the ledger (``path = ANY(...)``, 500 paths
a query) and offered each file to the selector with them. Now each listed page is one anti-join
(``Ledger.unmatched_identities``) that returns only the files the ledger lacks under their listed
identity, and runs of known files are counted at once (``Selector.offer_known``). The reference
below is the old algorithm, kept verbatim; both run over the same listing of each real server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoloader_contracts.events import FileRef
from autoloader_contracts.ingestion import DestinationSpec, DiscoverySpec, FormatSpec, IngestionConfig
from autoloader_discovery import scanning
from autoloader_discovery.domain import Selection, Selector
from autoloader_discovery.ledger import Ledger, ListingState
from autoloader_discovery.scanning import Scanner, ScanPlan, scan_plan
from autoloader_sources.registry import SOURCE_TYPES, open_source
from tests.source_envs.base import SourcePlace

pytestmark = pytest.mark.integration

TENANT = "ten_diff"
INGESTION = "ing_diff"
NOW = datetime.now(UTC) + timedelta(hours=1)  # every file is settled (servers' clocks may run ahead a little)

FILES = ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv", "sub/f.csv", "sub/g.csv", "sub/h.csv", "sub/ü €.csv"]
"""a, b: loaded as listed (known). c: loaded under an older identity (changed). d: failed as listed
(known, but not to a backfill, which counts only loaded files). e: skipped as listed and loaded under an
older identity (two ledger rows). f: not in the ledger (new). g: in another ingestion's ledger only (new).
h: loading as listed (known). ü €: known under its non-ASCII name."""

PLANS: dict[str, ScanPlan] = {
    "next_run": scan_plan("next_run"),
    "backfill": scan_plan("backfill"),
    "reset": scan_plan("reset"),
    "refresh_full": scan_plan("refresh_full"),
}
DISCOVERY: dict[str, DiscoverySpec] = {
    "ignore": DiscoverySpec(max_files_per_run=None, settle_interval_seconds=0),
    "reload": DiscoverySpec(max_files_per_run=None, changed_files="reload", settle_interval_seconds=0),
    "reload, 2 per run": DiscoverySpec(max_files_per_run=2, changed_files="reload", settle_interval_seconds=0),
    "ignore, 1 per run": DiscoverySpec(max_files_per_run=1, settle_interval_seconds=0),
    "nothing settled": DiscoverySpec(max_files_per_run=None, min_file_age_seconds=10**9, changed_files="reload",
                                     settle_interval_seconds=0),
}


@pytest.fixture(params=SOURCE_TYPES)
def place(request: pytest.FixtureRequest) -> SourcePlace:
    """A fresh folder in each kind of store."""
    found: SourcePlace = request.getfixturevalue(f"{request.param}_place")
    return found


async def _known_identities(pool: Any, ingestion_id: str, paths: list[str],
                            states: tuple[str, ...] | None) -> dict[str, set[str]]:
    """The old ``Ledger.known_identities``: path -> identities in the ledger (rows in ``states`` only)."""
    rows = await pool.fetch(
        """SELECT path, identity FROM discovery.ledger
           WHERE ingestion_id = $1 AND path = ANY($2::text[])
             AND ($3::text[] IS NULL OR state = ANY($3::text[]))""",
        ingestion_id, paths, list(states) if states is not None else None,
    )
    known: dict[str, set[str]] = {}
    for row in rows:
        known.setdefault(row["path"], set()).add(row["identity"])
    return known


async def _reference(place: SourcePlace, pool: Any, config: IngestionConfig, plan: ScanPlan) -> Selection:
    """The diff as discovery did it before: chunks of files, each chunk's paths' identities read back."""
    selector = Selector(rules=config.discovery, now=NOW, run=plan.rules)
    chunks: list[list[FileRef]] = [[]]
    async with open_source(config.source, credentials=place.credentials,
                           allowed_roots=getattr(place, "allowed_roots", ())) as source:
        async for listed in source.list_files():
            if len(chunks[-1]) >= 3:
                chunks.append([])
            chunks[-1].append(FileRef(path=listed.path, size=listed.size, modified_at=listed.modified_at,
                                      etag=listed.etag))
    for chunk in chunks:
        if plan.ledger == "none":
            known: Mapping[str, set[str]] = {}
        else:
            states = scanning.LOADED_STATES if plan.ledger == "loaded" else None
            known = await _known_identities(pool, INGESTION, [f.path for f in chunk], states)
        selector.offer(chunk, known)
    return selector.selection


async def _seed_ledger(pool: Any, listed: dict[str, FileRef]) -> None:
    def row(path: str, identity: str, state: str, ingestion: str = INGESTION) -> tuple[Any, ...]:
        ref = listed[path]
        return (TENANT, ingestion, path, identity, ref.size, ref.etag, ref.modified_at, NOW, "run_old", state)

    rows = [
        row("a.csv", listed["a.csv"].identity, "loaded"),
        row("b.csv", listed["b.csv"].identity, "loaded"),
        row("c.csv", "stale-identity", "loaded"),
        row("d.csv", listed["d.csv"].identity, "failed"),
        row("e.csv", listed["e.csv"].identity, "skipped"),
        row("e.csv", "older-identity", "loaded"),
        row("sub/g.csv", listed["sub/g.csv"].identity, "loaded", ingestion="ing_other"),
        row("sub/h.csv", listed["sub/h.csv"].identity, "loading"),
        row("sub/ü €.csv", listed["sub/ü €.csv"].identity, "loaded"),
    ]
    await pool.executemany(
        """INSERT INTO discovery.ledger (tenant_id, ingestion_id, path, identity, size, etag, modified_at,
                                         first_seen_at, run_id, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        rows,
    )


def _outcome(selection: Selection) -> dict[str, Any]:
    outcome = asdict(selection)
    outcome["new"] = [(f.path, f.identity, f.size) for f in selection.new]
    return outcome


async def test_new_changed_and_known_files_are_classified_as_before(
    place: SourcePlace, pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index, path in enumerate(FILES):
        await place.put(path, b"id\n" + str(index).encode() * (index + 1) + b"\n")
    monkeypatch.setattr(scanning, "LEDGER_PAGE", 3)  # several pages, runs of known files across page ends
    credentials = place.credentials

    async def credentials_for(_tenant: str, _ref: str | None) -> Mapping[str, str] | None:
        return credentials

    scanner = Scanner(ledger=Ledger(pool), listing_state=ListingState(pool), credentials=credentials_for,
                      allowed_roots=getattr(place, "allowed_roots", ()))
    source_spec = place.spec(pattern="**/*.csv", options={"page_size": 2})
    base = IngestionConfig(name="diff", source=source_spec, format=FormatSpec(type="csv"),
                           destination=DestinationSpec(database="d", table="t"))
    async with open_source(source_spec, credentials=credentials,
                           allowed_roots=getattr(place, "allowed_roots", ())) as source:
        listed = {f.path: FileRef(path=f.path, size=f.size, modified_at=f.modified_at, etag=f.etag)
                  async for f in source.list_files()}
    assert list(listed) == FILES
    await _seed_ledger(pool, listed)

    outcomes: dict[tuple[str, str], dict[str, Any]] = {}
    for plan_name, plan in PLANS.items():
        for rules_name, rules in DISCOVERY.items():
            config = IngestionConfig(**{**{f: getattr(base, f) for f in base.__struct_fields__}, "discovery": rules})
            before = await _reference(place, pool, config, plan)
            now = await scanner.select(tenant_id=TENANT, ingestion_id=INGESTION, config=config, now=NOW, plan=plan,
                                       persist=False)
            assert _outcome(now) == _outcome(before), (plan_name, rules_name)
            outcomes[(plan_name, rules_name)] = _outcome(now)

    # What "as before" means here, spelled out for the common cases.
    ignore = outcomes[("next_run", "ignore")]
    assert [p for p, _, _ in ignore["new"]] == ["sub/f.csv", "sub/g.csv"]
    assert (ignore["listed"], ignore["changed"], ignore["resume_after"]) == (9, 1, "sub/ü €.csv")
    reload = outcomes[("next_run", "reload")]
    assert [p for p, _, _ in reload["new"]] == ["c.csv", "sub/f.csv", "sub/g.csv"]
    backfill = outcomes[("backfill", "reload")]  # only loaded/loading rows count: d is new, e changed
    assert [p for p, _, _ in backfill["new"]] == ["c.csv", "d.csv", "e.csv", "sub/f.csv", "sub/g.csv"]
    limited = outcomes[("next_run", "reload, 2 per run")]
    assert ([p for p, _, _ in limited["new"]], limited["backlog_files"]) == (["c.csv", "sub/f.csv"], 1)
    assert limited["resume_after"] == "sub/f.csv"
    unsettled = outcomes[("next_run", "nothing settled")]
    assert (unsettled["new"], unsettled["unsettled"], unsettled["resume_after"]) == ([], 3, "b.csv")
    assert len(outcomes[("refresh_full", "ignore")]["new"]) == len(FILES)
