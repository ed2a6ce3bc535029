"""Fallback PostgreSQL clusters (root runs the server as an unprivileged user from /var/tmp) go with their data dir.

Every temporary stack run as root (tests, benches) used to leave its cluster in /var/tmp: 60 GB
after a day of test runs on the development machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autoloader_cli.servers import FALLBACK_PREFIX, ORIGIN_FILE, sweep_orphaned_fallbacks

pytestmark = pytest.mark.unit


def _fallback(root: Path, name: str, origin: Path | None, *, running: bool = False) -> Path:
    folder = root / f"{FALLBACK_PREFIX}{name}"
    cluster = folder / "pg"
    cluster.mkdir(parents=True)
    (cluster / "PG_VERSION").write_text("18")
    if origin is not None:
        (folder / ORIGIN_FILE).write_text(str(origin))
    if running:
        (cluster / "postmaster.pid").write_text("123")
    return folder


def test_only_clusters_whose_data_dir_is_gone_and_that_no_server_runs_are_deleted(tmp_path: Path) -> None:
    root, alive = tmp_path / "var-tmp", tmp_path / "still-here"
    alive.mkdir()
    gone = tmp_path / "deleted-long-ago"
    orphan = _fallback(root, "orphan", gone)
    kept_owner = _fallback(root, "owner", alive)
    kept_running = _fallback(root, "running", gone, running=True)
    kept_unknown = _fallback(root, "legacy", None)
    (root / "unrelated").mkdir()

    removed = sweep_orphaned_fallbacks(root)

    assert removed == [orphan]
    assert not orphan.exists()
    assert all(p.exists() for p in (kept_owner, kept_running, kept_unknown, root / "unrelated"))
