"""Crash safety through the HTTP API: a SIGKILL at any step or of any service loses and duplicates nothing.

- At each fault point between the steps of a batch's commit (data files written / committed /
  announced), the loader dies; restarted, it finishes the run with every row exactly once.
- Randomized trials: a multi-batch run, a random service (loader, discovery, projector, scheduler,
  api) killed with SIGKILL at a random moment and restarted; the table must hold exactly the
  expected ids once each, every file ``loaded``, the run ``success``. The seed list is fixed, so a
  failing trial replays: CI runs 10 (``AUTOLOADER_CRASH_TRIALS``), ``just crash-trials`` runs 100.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from autoloader_cli.stack import SERVICES, Stack
from autoloader_loader import faults
from tests.conftest import unique
from tests.e2e.conftest import TERMINAL_RUN_STATES, Api, new_tenant, start_stack, write_csv

pytestmark = pytest.mark.e2e

TRIALS = int(os.environ.get("AUTOLOADER_CRASH_TRIALS", "10"))
SEEDS = list(range(1, TRIALS + 1))
KILL_WITHIN_SECONDS = 1.0


@dataclass
class Tally:
    """What the trials did, printed when the module ends (run with ``-s`` to see it)."""

    trials: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    killed_mid_run: int = 0
    duplicates: int = 0
    lost_files: int = 0

    def report(self) -> str:
        kills = ", ".join(f"{name} {count}" for name, count in sorted(self.kills.items()))
        return (
            f"crash trials: {self.trials} trials; kills: {kills}; killed while the run was running: "
            f"{self.killed_mid_run}; duplicate rows: {self.duplicates}; lost files: {self.lost_files}"
        )


TALLY = Tally()


@pytest.fixture(scope="module")
def trial_stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """A stack with one file per batch (a run is several commits) and quick redeliveries (3 s)."""
    running = start_stack(
        tmp_path_factory.mktemp("trials"),
        postgres_admin_url,
        env={"AUTOLOADER_ACK_WAIT_SECONDS": "3", "AUTOLOADER_BATCH_MAX_FILES": "1"},
    )
    try:
        yield running
    finally:
        running.stop()
        if TALLY.trials:
            print("\n" + TALLY.report())


@pytest.fixture(scope="module")
def tenant(trial_stack: Stack) -> Iterator[Api]:
    client = new_tenant(trial_stack)
    yield client
    client.http.close()


def _get(api: Api, path: str, **params: Any) -> Any:
    """GET through restarts of the api: connection errors and 5xx are retried for a while."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = api.http.get(path, params=params)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"GET {path} kept failing"
        time.sleep(0.3)


def _wait_terminal(api: Api, ingestion_id: str, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = _get(api, f"/ingestions/{ingestion_id}/runs/{run_id}")
        if run["status"] in TERMINAL_RUN_STATES:
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s")


def _load_files(stack: Stack, files: int, rows: int) -> tuple[str, list[int]]:
    folder = stack.landing_dir / unique("trial")
    for n in range(files):
        write_csv(folder / f"part-{n:02d}.csv", n * rows, rows)
    return str(folder), list(range(files * rows))


@dataclass(frozen=True)
class Outcome:
    """What the table and the ledger hold after a run."""

    duplicate_rows: int
    missing_ids: int
    files_not_loaded: int


def _outcome(api: Api, ingestion_id: str, expected_ids: list[int], files: int) -> Outcome:
    sample = _get(api, f"/ingestions/{ingestion_id}/table/sample", limit=10000, columns="id")["rows"]
    ids = [row["id"] for row in sample]
    ledger = _get(api, f"/ingestions/{ingestion_id}/files", limit=500)["items"]
    return Outcome(
        duplicate_rows=len(ids) - len(set(ids)),
        missing_ids=len(set(expected_ids) - set(ids)),
        files_not_loaded=files - sum(1 for f in ledger if f["state"] == "loaded"),
    )


def _assert_exactly_once(outcome: Outcome) -> None:
    assert outcome == Outcome(duplicate_rows=0, missing_ids=0, files_not_loaded=0)


@pytest.mark.parametrize("fault", faults.COMMIT_STEPS)
def test_a_loader_dying_between_commit_steps_loses_and_duplicates_nothing(
    trial_stack: Stack, tenant: Api, fault: str
) -> None:
    folder, expected = _load_files(trial_stack, files=4, rows=250)
    ingestion = tenant.create(tenant.ingestion_body(folder, table=unique("step")))
    trial_stack.kill_service("loader")
    trial_stack.start_service("loader", extra_env={"AUTOLOADER_FAULT": fault})
    run_id = tenant.run(ingestion["id"])
    deadline = time.monotonic() + 60
    while "loader" not in trial_stack.dead_services():
        assert time.monotonic() < deadline, f"the loader never reached {fault}"
        time.sleep(0.1)
    assert _get(tenant, f"/ingestions/{ingestion['id']}/runs/{run_id}")["status"] == "running"
    trial_stack.start_service("loader", extra_env={"AUTOLOADER_FAULT": ""})

    run = _wait_terminal(tenant, ingestion["id"], run_id)
    assert run["status"] == "success", run
    assert run["metrics"]["records_ingested"] == len(expected)
    _assert_exactly_once(_outcome(tenant, ingestion["id"], expected, files=4))
    assert len(tenant.table(ingestion["id"])["snapshots"]) == 4  # one per batch (of one file), none twice


@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_service_killed_at_a_random_moment_loses_and_duplicates_nothing(
    trial_stack: Stack, tenant: Api, seed: int
) -> None:
    for name in trial_stack.dead_services():  # an earlier failed trial must not fail this one
        trial_stack.start_service(name)
    rng = random.Random(seed)
    files, rows = rng.randint(4, 10), rng.randint(200, 1000)
    victim = rng.choice(SERVICES)
    delay = rng.uniform(0.0, KILL_WITHIN_SECONDS)
    folder, expected = _load_files(trial_stack, files=files, rows=rows)
    ingestion = tenant.create(tenant.ingestion_body(folder, table=unique("trial")))

    run_id = tenant.run(ingestion["id"])
    time.sleep(delay)
    mid_run = _get(tenant, f"/ingestions/{ingestion['id']}/runs/{run_id}")["status"] not in TERMINAL_RUN_STATES
    trial_stack.kill_service(victim)
    trial_stack.start_service(victim)
    TALLY.trials += 1
    TALLY.kills[victim] += 1
    TALLY.killed_mid_run += int(mid_run)

    run = _wait_terminal(tenant, ingestion["id"], run_id)
    outcome = _outcome(tenant, ingestion["id"], expected, files=files)
    TALLY.duplicates += outcome.duplicate_rows
    TALLY.lost_files += outcome.files_not_loaded
    assert run["status"] == "success", (victim, delay, run)
    _assert_exactly_once(outcome)
    assert run["metrics"]["records_ingested"] == len(expected)
