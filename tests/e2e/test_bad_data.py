"""Bad data through the HTTP API: each bad-file case under each on_error policy, then retry.

A run goes over a folder with a good file and bad ones; the run's metrics, its recorded errors
(file, reason, line) and the file ledger tell what the policy did with each case.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoloader_cli.stack import Stack
from tests.conftest import unique
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

GOOD_CSV = b"id,name,amount\n1,a,1.5\n2,b,2.5\n3,c,3.5\n"
BAD_CSV_FILES: dict[str, bytes] = {
    "empty.csv": b"",
    "header.csv": b"id,name,amount\n",
    "latin1.csv": b"id,name,amount\n20,caf\xe9,1.0\n21,d,2.0\n",
    "ragged.csv": b"id,name,amount\n10,a,1.0\n11,b,2.0,extra\n12,c,3.0\n",
    "truncated.csv.gz": gzip.compress(b"id,name,amount\n" + b"30,e,1.0\n" * 200)[:40],
}
FILE_REASONS = {
    "empty.csv": "the file is empty",
    "latin1.csv": "not valid utf-8",
    "ragged.csv": "expected 3 columns, found 4",
    "truncated.csv.gz": "truncated",
    "corrupt.parquet": "parquet",
}
ROW_LINES = {"latin1.csv": 2, "ragged.csv": 3}


def _csv_folder(stack: Stack, files: dict[str, bytes]) -> Path:
    folder = stack.landing_dir / unique("bad")
    folder.mkdir(parents=True)
    (folder / "a-good.csv").write_bytes(GOOD_CSV)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _parquet_folder(stack: Stack) -> Path:
    folder = stack.landing_dir / unique("badpq")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}), folder / "a-good.parquet")
    (folder / "corrupt.parquet").write_bytes(b"PAR1 not really a parquet file PAR1")
    return folder


def _ingestion(api: Api, folder: Path, policy: str, *, parquet: bool = False) -> str:
    body = api.ingestion_body(folder, table=unique("bad"), errors={"on_error": policy})
    if parquet:
        body["source"]["file_pattern"] = "*.parquet"
        body["format"] = {"type": "parquet"}
    else:
        body["source"]["file_pattern"] = "*.csv*"
    ingestion_id: str = api.create(body)["id"]
    return ingestion_id


def _ledger(api: Api, ingestion_id: str) -> dict[str, dict[str, Any]]:
    response = api.http.get(f"/ingestions/{ingestion_id}/files", params={"limit": 100})
    assert response.status_code == 200, response.text
    newest: dict[str, dict[str, Any]] = {}
    for entry in response.json()["items"]:  # most recently seen first
        newest.setdefault(entry["path"], entry)
    return newest


def _file_errors(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["file"]: e for e in run["errors"] if e["error_type"] == "file_error"}


def _row_errors(run: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((e["file"], e["line"]) for e in run["errors"] if e["error_type"] == "row_error")


def _metrics(run: dict[str, Any]) -> tuple[int, int, int, int]:
    m = run["metrics"]
    return m["files_processed"], m["files_failed"], m["records_ingested"], m.get("records_rejected", 0)


@pytest.mark.parametrize("case", [*sorted(FILE_REASONS)])
def test_fail_run_fails_the_run_naming_the_file_and_reason(stack: Stack, api: Api, case: str) -> None:
    if case == "corrupt.parquet":
        ingestion_id = _ingestion(api, _parquet_folder(stack), "fail_run", parquet=True)
    else:
        ingestion_id = _ingestion(api, _csv_folder(stack, {case: BAD_CSV_FILES[case]}), "fail_run")

    run = api.wait_run(ingestion_id, api.run(ingestion_id))

    assert run["status"] == "failed", run
    assert _metrics(run) == (0, 2, 0, 0)
    [error] = run["errors"]
    assert (error["file"], error["error_type"]) == (case, "file_error")
    assert error["message"].startswith(f"{case}: ")
    assert FILE_REASONS[case] in error["message"].lower()
    if case in ROW_LINES:
        assert error["line"] == ROW_LINES[case]
    ledger = _ledger(api, ingestion_id)
    assert {path: f["state"] for path, f in ledger.items()} == dict.fromkeys(ledger, "failed")
    assert len(ledger) == 2


def test_fail_run_loads_a_header_only_csv_as_an_empty_file(stack: Stack, api: Api) -> None:
    ingestion_id = _ingestion(api, _csv_folder(stack, {"header.csv": BAD_CSV_FILES["header.csv"]}), "fail_run")

    run = api.wait_run(ingestion_id, api.run(ingestion_id))

    assert run["status"] == "success", run["errors"]
    assert _metrics(run) == (2, 0, 3, 0)
    ledger = _ledger(api, ingestion_id)
    assert {p: (f["state"], f["rows"]) for p, f in ledger.items()} == {
        "a-good.csv": ("loaded", 3),
        "header.csv": ("loaded", 0),
    }


def test_skip_file_leaves_each_bad_file_out_and_retry_loads_the_fixed_one(stack: Stack, api: Api) -> None:
    folder = _csv_folder(stack, BAD_CSV_FILES)
    ingestion_id = _ingestion(api, folder, "skip_file")

    run = api.wait_run(ingestion_id, api.run(ingestion_id))

    assert run["status"] == "partial", run
    assert _metrics(run) == (2, 4, 3, 0)
    errors = _file_errors(run)
    assert sorted(errors) == ["empty.csv", "latin1.csv", "ragged.csv", "truncated.csv.gz"]
    for name, error in errors.items():
        assert error["message"].startswith(f"{name}: ")
        assert FILE_REASONS[name] in error["message"].lower(), error
        assert error["line"] == ROW_LINES.get(name), error
    ledger = _ledger(api, ingestion_id)
    assert {p: f["state"] for p, f in ledger.items()} == {
        "a-good.csv": "loaded",
        "header.csv": "loaded",
        "empty.csv": "failed",
        "latin1.csv": "failed",
        "ragged.csv": "failed",
        "truncated.csv.gz": "failed",
    }
    assert FILE_REASONS["ragged.csv"] in ledger["ragged.csv"]["error"].lower()
    assert api.table(ingestion_id)["row_count"] == 3

    # Fix one file in place; the retry takes only the run's failed files, and only the fixed one loads.
    (folder / "ragged.csv").write_bytes(b"id,name,amount\n10,a,1.0\n11,b,2.0\n")
    response = api.http.post(f"/ingestions/{ingestion_id}/runs/{run['id']}/retry")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    retry = api.wait_run(ingestion_id, response.json()["run_id"])

    assert retry["trigger"] == "retry"
    assert retry["status"] == "partial", retry
    assert _metrics(retry) == (1, 3, 2, 0)
    assert sorted(_file_errors(retry)) == ["empty.csv", "latin1.csv", "truncated.csv.gz"]
    assert sorted(f["path"] for f in retry["files"]) == ["empty.csv", "latin1.csv", "ragged.csv", "truncated.csv.gz"]
    assert _ledger(api, ingestion_id)["ragged.csv"]["state"] == "loaded"
    assert api.table(ingestion_id)["row_count"] == 5


def test_retry_is_refused_without_failed_files_or_for_an_unknown_run(stack: Stack, api: Api) -> None:
    ingestion_id = _ingestion(api, _csv_folder(stack, {}), "skip_file")
    run = api.wait_run(ingestion_id, api.run(ingestion_id))
    assert run["status"] == "success", run

    no_failures = api.http.post(f"/ingestions/{ingestion_id}/runs/{run['id']}/retry")
    unknown = api.http.post(f"/ingestions/{ingestion_id}/runs/run_unknown/retry")

    assert no_failures.status_code == 409, no_failures.text
    assert "no failed files" in no_failures.text
    assert unknown.status_code == 404, unknown.text


def test_skip_row_drops_bad_rows_with_their_lines_and_leaves_unreadable_files_out(stack: Stack, api: Api) -> None:
    ingestion_id = _ingestion(api, _csv_folder(stack, BAD_CSV_FILES), "skip_row")

    run = api.wait_run(ingestion_id, api.run(ingestion_id))

    assert run["status"] == "partial", run
    # good 3 + header 0 + latin1 1 + ragged 2 rows; one row dropped from each of latin1 and ragged.
    assert _metrics(run) == (4, 2, 6, 2)
    assert _row_errors(run) == [("latin1.csv", 2), ("ragged.csv", 3)]
    rows = {e["file"]: e["message"] for e in run["errors"] if e["error_type"] == "row_error"}
    assert "not valid utf-8" in rows["latin1.csv"].lower()
    assert FILE_REASONS["ragged.csv"] in rows["ragged.csv"]
    assert sorted(_file_errors(run)) == ["empty.csv", "truncated.csv.gz"]
    ledger = _ledger(api, ingestion_id)
    assert {p: (f["state"], f["rows"]) for p, f in ledger.items()} == {
        "a-good.csv": ("loaded", 3),
        "header.csv": ("loaded", 0),
        "latin1.csv": ("loaded", 1),
        "ragged.csv": ("loaded", 2),
        "empty.csv": ("failed", None),
        "truncated.csv.gz": ("failed", None),
    }
    assert sorted(row["id"] for row in api.sample(ingestion_id, limit=100, columns="id")) == [1, 2, 3, 10, 12, 21]


@pytest.mark.parametrize("policy", ["skip_file", "skip_row"])
def test_a_corrupt_parquet_file_is_left_out_under_lenient_policies(stack: Stack, api: Api, policy: str) -> None:
    ingestion_id = _ingestion(api, _parquet_folder(stack), policy, parquet=True)

    run = api.wait_run(ingestion_id, api.run(ingestion_id))

    assert run["status"] == "partial", run
    assert _metrics(run) == (1, 1, 3, 0)
    error = _file_errors(run)["corrupt.parquet"]
    assert error["message"].startswith("corrupt.parquet: ")
    assert "parquet" in error["message"].lower()
    assert {p: f["state"] for p, f in _ledger(api, ingestion_id).items()} == {
        "a-good.parquet": "loaded",
        "corrupt.parquet": "failed",
    }
