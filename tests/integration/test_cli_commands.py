"""`autoloader migrate` against a real PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from autoloader_cli.main import main

pytestmark = pytest.mark.integration


def test_migrate_creates_the_database_then_reports_it_up_to_date(
    postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/cli_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AUTOLOADER_DATABASE_URL", url)

    assert main(["migrate"]) == 0
    assert "applied: 0001_initial.sql" in capsys.readouterr().out

    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.strip() == "database is up to date"


def test_projections_rebuild_without_a_stack_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUTOLOADER_NATS_URL", raising=False)
    monkeypatch.delenv("AUTOLOADER_DATABASE_URL", raising=False)
    assert main(["projections", "rebuild", "--data-dir", str(tmp_path)]) == 1
    assert "autoloader up" in capsys.readouterr().err
