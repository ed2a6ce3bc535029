"""The demo dataset and the CLI's argument handling (no servers)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from autoloader_cli.demo import DEMO_FILES, ROWS_PER_FILE, ingestion_body, write_demo_files
from autoloader_cli.main import _parser
from autoloader_cli.stack import _admin_url_and_name

pytestmark = pytest.mark.unit


def test_demo_files_hold_3000_orders_with_unique_ids(tmp_path: Path) -> None:
    paths = write_demo_files(tmp_path / "orders")
    assert len(paths) == DEMO_FILES
    ids = []
    for path in paths:
        with path.open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == ROWS_PER_FILE
        assert list(rows[0]) == ["id", "customer", "amount", "ordered_at"]
        ids += [int(row["id"]) for row in rows]
    assert sorted(ids) == list(range(DEMO_FILES * ROWS_PER_FILE))
    assert not list((tmp_path / "orders").glob("*.tmp"))


def test_demo_files_are_not_rewritten(tmp_path: Path) -> None:
    # A rewrite would change size/mtime and make discovery load the same rows again after a restart.
    first = write_demo_files(tmp_path)
    stamps = [p.stat().st_mtime_ns for p in first]
    second = write_demo_files(tmp_path)
    assert [p.stat().st_mtime_ns for p in second] == stamps


def test_demo_ingestion_reads_only_its_folder(tmp_path: Path) -> None:
    body = ingestion_body(tmp_path)
    assert body["source"] == {"type": "local", "path": str(tmp_path), "file_pattern": "*.csv"}
    assert body["destination"] == {"catalog": "lake", "database": "demo", "table": "orders"}


def test_up_flags() -> None:
    argv = ["up", "--host", "127.0.0.2", "--port", "8123", "--data-dir", "/tmp/d", "--demo"]
    args = _parser().parse_args(argv)
    assert (args.host, args.port, args.data_dir, args.demo) == ("127.0.0.2", 8123, Path("/tmp/d"), True)
    assert _parser().parse_args(["tenants", "create", "acme"]).name == "acme"
    with pytest.raises(SystemExit):
        _parser().parse_args(["tenants"])


def test_admin_url_points_at_the_postgres_database() -> None:
    admin, name = _admin_url_and_name("postgresql://u:p@db.example:5433/autoloader_x?sslmode=require")
    assert (admin, name) == ("postgresql://u:p@db.example:5433/postgres?sslmode=require", "autoloader_x")
