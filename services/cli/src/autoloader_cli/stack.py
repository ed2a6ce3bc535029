"""The embedded stack: NATS, PostgreSQL and the five services as local processes.

``Stack`` is what ``autoloader up`` runs and what the end-to-end tests drive. It starts the
servers (unless ``AUTOLOADER_NATS_URL`` / ``AUTOLOADER_DATABASE_URL`` point elsewhere), migrates
the database, launches every service as ``python -m autoloader_<svc>`` with the settings in its
environment, waits until each one publishes a heartbeat and the API answers ``/health/ready``,
and makes sure a ``default`` tenant exists. Everything it starts is stopped by process id.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from autoloader_bus.runtime import PARENT_PID_VARIABLE
from autoloader_cli.servers import NatsServer, PostgresServer, _tail, free_port
from autoloader_core.crypto import KEYS_VARIABLE, SecretBox, generate_key_spec
from autoloader_core.errors import TerminalError, TransientError
from autoloader_core.settings import Secret, Settings

SERVICES = ("api", "scheduler", "discovery", "loader", "projector")
"""Start order; they stop in reverse."""
REPLICA_SEPARATOR = "-"
"""Extra replicas of a service are processes named ``<service>-2``, ``<service>-3``, ..."""


def service_of(process: str) -> str:
    """The service a process name runs: ``scheduler-2`` -> ``scheduler``."""
    return process.split(REPLICA_SEPARATOR, 1)[0]


def process_names(
    scheduler_replicas: int = 1, loader_replicas: int = 1, *, discovery_replicas: int = 1, projector_replicas: int = 1
) -> tuple[str, ...]:
    """The stack's processes in start order: each service once, the background services as often as asked.

    The first replica keeps the plain service name, so a default stack is named as it always was.
    """
    replicas = {
        "scheduler": scheduler_replicas,
        "discovery": discovery_replicas,
        "loader": loader_replicas,
        "projector": projector_replicas,
    }
    for service, count in replicas.items():
        if count < 1:
            raise TerminalError(f"--{service}-replicas must be at least 1, not {count}")
    names: list[str] = []
    for name in SERVICES:
        names.append(name)
        names += [f"{name}{REPLICA_SEPARATOR}{i}" for i in range(2, replicas.get(name, 1) + 1)]
    return tuple(names)

DATABASE_NAME = "autoloader"
SECRET_KEYS_FILE = "secret-keys"  # noqa: S105 - a file name, not a secret
DEFAULT_TENANT = "default"
STOP_GRACE_SECONDS = 20.0

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, even when called inside a running event loop.

    The e2e fixtures may call the stack from async tests; ``asyncio.run`` refuses to nest, so
    then the coroutine runs on a private loop in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (it holds a credential)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class TenantKey:
    """The default tenant's id and API key, as kept in ``<data-dir>/default-tenant.json``."""

    tenant_id: str
    api_key: str
    name: str = DEFAULT_TENANT


@dataclass
class ServiceProcess:
    """One running service process and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """Operating-system process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None


class Stack:
    """NATS + PostgreSQL + api, scheduler, discovery, loader and projector on this machine.

    Args:
        data_dir: State of the stack (servers, logs, landing folder, warehouse, keys).
        host: Address the API binds.
        port: Port the API binds (``None``: ``AUTOLOADER_API_PORT`` or 8000).
        environ: Environment to read settings from (default: ``os.environ``); children inherit it.
        service_env: Extra variables per service name, e.g. ``{"loader": {"AUTOLOADER_FAULT": "x"}}``
            (a service's entry applies to all its replicas; ``scheduler-2`` may have one of its own).
        ready_timeout: Seconds to wait for every service to become ready.
        scheduler_replicas: Scheduler processes to run; one at a time leads (the leader lease),
            the others follow and take over within seconds when it dies.
        loader_replicas: Loader processes to run; they share the batches of every run (one durable
            consumer, explicit acks).
        discovery_replicas: Discovery processes to run; they share its durable consumer (events of
            different runs are handled in parallel) and its RPC queue groups.
        projector_replicas: Projector processes to run; each follows the log, and the checkpoint row
            (locked per applied batch) lets one apply at a time, so a replica is a hot standby.
    """

    def __init__(
        self,
        data_dir: Path | str = ".autoloader",
        *,
        host: str | None = None,
        port: int | None = None,
        environ: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        ready_timeout: float = 120.0,
        scheduler_replicas: int = 1,
        loader_replicas: int = 1,
        discovery_replicas: int = 1,
        projector_replicas: int = 1,
    ) -> None:
        self.processes = process_names(
            scheduler_replicas,
            loader_replicas,
            discovery_replicas=discovery_replicas,
            projector_replicas=projector_replicas,
        )
        """Process names in start order (``scheduler-2``... after ``scheduler``)."""
        self.data_dir = Path(data_dir).resolve()
        self.environ: dict[str, str] = dict(os.environ if environ is None else environ)
        self.service_env = {name: dict(env) for name, env in (service_env or {}).items()}
        self.ready_timeout = ready_timeout
        self._host = host
        self._port = port
        self.settings: Settings | None = None
        self.admin_token_generated = False
        self.default_tenant: TenantKey | None = None
        self.nats: NatsServer | None = None
        self.postgres: PostgresServer | None = None
        self.services: dict[str, ServiceProcess] = {}
        self.metrics_ports: dict[str, int] = {}

    # --- public API -----------------------------------------------------------------------

    @property
    def logs_dir(self) -> Path:
        """Folder of the service logs (``<data-dir>/logs``)."""
        return self.data_dir / "logs"

    @property
    def landing_dir(self) -> Path:
        """The first folder local sources may read (default ``<data-dir>/landing``)."""
        return self._settings.allowed_roots[0]

    @property
    def api_url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:8000``."""
        settings = self._settings
        return f"http://{settings.api_host}:{settings.api_port}"

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Each service's Prometheus endpoint: the api's ``/metrics``, the others' own ports."""
        host = self._settings.metrics_host
        urls = {"api": f"{self.api_url}/metrics"}
        urls |= {name: f"http://{host}:{port}/metrics" for name, port in self.metrics_ports.items()}
        return urls

    @property
    def admin_token(self) -> str:
        """The admin bearer token (tenant management)."""
        return self._settings.admin_token.reveal()

    @property
    def api_key(self) -> str:
        """The default tenant's API key."""
        if self.default_tenant is None:
            raise TerminalError("the stack is not started: call start() first")
        return self.default_tenant.api_key

    def start(self) -> Stack:
        """Start servers and services, wait until all are ready, ensure the default tenant.

        Raises:
            TerminalError: A server or service did not start; the message holds its log tail.
        """
        try:
            self._prepare_dirs()
            self.settings = self._build_settings()
            self._migrate()
            # The background services share a host: each gets a port of its own for its metrics.
            self.metrics_ports = {name: free_port() for name in self.processes if name != "api"}
            for name in self.processes:
                self._launch(name)
            self._wait_ready(self.processes)
            self.default_tenant = self._ensure_default_tenant()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the services in reverse start order, then PostgreSQL and NATS, by process id.

        Every service gets SIGTERM, then SIGKILL once ``STOP_GRACE_SECONDS`` have passed, so no
        child outlives the launcher even when its servers are gone; the servers are stopped even
        if stopping a service failed.
        """
        running = [self.services[name] for name in reversed(self.processes) if name in self.services]
        try:
            for service in running:
                if service.alive():
                    with contextlib.suppress(ProcessLookupError):
                        service.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for service in running:
                _wait_or_kill(service.process, deadline)
        finally:
            for service in running:  # a second line of defence: whatever is still there is killed
                if service.alive():
                    service.process.kill()
                    service.process.wait()
            self.services.clear()
            self._stop_servers()

    def _stop_servers(self) -> None:
        try:
            if self.postgres is not None:
                self.postgres.stop()
                self.postgres = None
        finally:
            if self.nats is not None:
                self.nats.stop()
                self.nats = None

    def kill_service(self, name: str) -> None:
        """Kill service ``name`` with SIGKILL (crash tests) and wait until it is gone."""
        service = self._service(name)
        if service.alive():
            service.process.kill()
        service.process.wait()

    def start_service(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        """(Re)start service ``name`` and wait until it is ready.

        Args:
            name: One of :attr:`processes` (a service of :data:`SERVICES`, or a replica like ``scheduler-2``).
            extra_env: Variables added for this process only (e.g. to clear a fault point).
        """
        if name not in self.processes:
            raise TerminalError(f"unknown service {name!r}; choose one of {', '.join(self.processes)}")
        old = self.services.get(name)
        if old is not None and old.alive():
            raise TerminalError(f"service {name} is already running (pid {old.pid}); kill_service it first")
        self._launch(name, extra_env)
        self._wait_ready((name,))

    def relaunch(self, name: str) -> ServiceProcess:
        """Start service ``name`` again without waiting for it (the supervisor's restart).

        Raises:
            TerminalError: ``name`` is unknown or still running.
        """
        old = self._service(name)
        if old.alive():
            raise TerminalError(f"service {name} is still running (pid {old.pid})")
        return self._launch(name)

    def dead_services(self) -> list[str]:
        """Names of services whose process has exited."""
        return [name for name, service in self.services.items() if not service.alive()]

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The last ``lines`` lines of service ``name``'s log."""
        return _tail(self.logs_dir / f"{name}.log", lines)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- start-up steps -------------------------------------------------------------------

    @property
    def _settings(self) -> Settings:
        if self.settings is None:
            raise TerminalError("the stack is not started: call start() first")
        return self.settings

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)

    def _build_settings(self) -> Settings:
        base = Settings.from_env(self.environ)
        roots = base.local_roots or (self.data_dir / "landing",)
        for root in roots:
            Path(root).mkdir(parents=True, exist_ok=True)
        return replace(
            base,
            data_dir=self.data_dir,
            nats_url=self._nats_url(),
            database_url=self._database_url(),
            admin_token=Secret(self._admin_token()),
            secret_keys=Secret(secret_keys(self.data_dir, self.environ, generate=True)),
            local_roots=tuple(Path(root).resolve() for root in roots),
            api_host=self._host or base.api_host,
            api_port=self._port or base.api_port,
        )

    def _nats_url(self) -> str:
        external = self.environ.get("AUTOLOADER_NATS_URL")
        if external:
            return external
        self.nats = NatsServer(self.data_dir / "nats").start()
        return self.nats.url

    def _database_url(self) -> str:
        external = self.environ.get("AUTOLOADER_DATABASE_URL")
        if external:
            return external
        self.postgres = PostgresServer(self.data_dir / "postgres", fsync=True).start()
        return self.postgres.url_for(DATABASE_NAME)

    def _admin_token(self) -> str:
        from_env = self.environ.get("AUTOLOADER_ADMIN_TOKEN")
        if from_env:
            return from_env
        path = self.data_dir / "admin-token"
        if path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(32)
        _write_private(path, token + "\n")
        self.admin_token_generated = True
        return token

    def _migrate(self) -> None:
        from autoloader_db.database import ensure_database, migrate

        url = self._settings.database_url
        admin_url, name = _admin_url_and_name(url)

        async def run() -> None:
            await ensure_database(admin_url, name)
            await migrate(url)

        run_async(run())

    def _child_env(self, name: str, extra_env: Mapping[str, str] | None) -> dict[str, str]:
        env = dict(self.environ)
        env.update(self._settings.to_env())
        env["PYTHONUNBUFFERED"] = "1"
        # The service stops by itself when we die, even by SIGKILL: no orphans (see the runtime).
        env[PARENT_PID_VARIABLE] = str(os.getpid())
        if name in self.metrics_ports:
            env["AUTOLOADER_METRICS_PORT"] = str(self.metrics_ports[name])
        env.update(self.service_env.get(service_of(name), {}))
        env.update(self.service_env.get(name, {}))
        env.update(extra_env or {})
        return env

    def _launch(self, name: str, extra_env: Mapping[str, str] | None = None) -> ServiceProcess:
        log = self.logs_dir / f"{name}.log"
        with log.open("ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}\n".encode())
            out.flush()
            # A session of its own: Ctrl-C in the terminal reaches only us, and we stop in order.
            process = subprocess.Popen(
                [sys.executable, "-m", f"autoloader_{service_of(name)}"],
                env=self._child_env(name, extra_env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.services[name] = ServiceProcess(name=name, process=process, log=log)
        return self.services[name]

    def _wait_ready(self, names: tuple[str, ...]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                service = self.services[name]
                if not service.alive():
                    raise TerminalError(
                        f"service {name} exited with code {service.process.returncode} during start-up; "
                        f"see {service.log}:\n{self.log_tail(name)}"
                    )
            pending -= self._ready_now(pending)
            if not pending:
                return
            if time.monotonic() > deadline:
                name = sorted(pending)[0]
                raise TerminalError(
                    f"service {name} was not ready within {self.ready_timeout:.0f}s (no heartbeat"
                    f"{' or /health/ready not 200' if name == 'api' else ''}); see "
                    f"{self.services[name].log}:\n{self.log_tail(name)}"
                )
            time.sleep(0.2)

    def _ready_now(self, names: set[str]) -> set[str]:
        """The services among ``names`` whose current process says ``serving`` (api: and is ready)."""
        try:
            serving = run_async(_serving_pids(self._settings))
        except TransientError:  # NATS not reachable (yet): nobody is ready
            return set()
        ready = {name for name in names if self.services[name].pid in serving}
        if "api" in ready and not self._api_ready():
            ready.discard("api")
        return ready

    def _api_ready(self) -> bool:
        try:
            response = httpx.get(f"{self.api_url}/health/ready", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _service(self, name: str) -> ServiceProcess:
        try:
            return self.services[name]
        except KeyError:
            raise TerminalError(f"service {name!r} is not running in this stack") from None

    # --- default tenant -------------------------------------------------------------------

    def _ensure_default_tenant(self) -> TenantKey:
        path = self.data_dir / "default-tenant.json"
        if path.exists():
            stored = json.loads(path.read_text())
            return TenantKey(**stored)
        tenant = create_tenant(self.api_url, self.admin_token, DEFAULT_TENANT)
        _write_private(path, json.dumps(tenant.__dict__, indent=2) + "\n")
        return tenant


def secret_keys(data_dir: Path, environ: Mapping[str, str], *, generate: bool = False) -> str:
    """The credential encryption keys: ``AUTOLOADER_SECRET_KEYS``, else ``<data-dir>/secret-keys``.

    Args:
        data_dir: The stack's data dir.
        environ: Environment to read the variable from.
        generate: Create the file with one new random key when neither exists (``up`` does).

    Returns:
        The key list text (empty when there is none and ``generate`` is false).

    Raises:
        TerminalError: The keys are malformed (the message names the variable or file, never a key).
    """
    spec = environ.get(KEYS_VARIABLE, "").strip()
    path = data_dir / SECRET_KEYS_FILE
    if not spec and path.exists():
        spec = path.read_text().strip()
    elif not spec and generate:
        spec = generate_key_spec(f"k{time.strftime('%Y%m%d')}")
        _write_private(path, spec + "\n")
    try:
        SecretBox.from_spec(spec)
    except TerminalError as exc:
        where = KEYS_VARIABLE if environ.get(KEYS_VARIABLE) else str(path)
        raise TerminalError(f"{exc.message} (read from {where})") from None
    return spec


def create_tenant(api_url: str, admin_token: str, name: str) -> TenantKey:
    """Create tenant ``name`` through the HTTP API and return its id and first API key.

    Raises:
        TerminalError: The API refused (the message carries its problem details).
    """
    response = httpx.post(
        f"{api_url}/api/v1/admin/tenants",
        json={"name": name},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30.0,
    )
    if response.status_code not in (200, 201):
        raise TerminalError(
            f"creating tenant {name!r} failed with HTTP {response.status_code}: {response.text}"
        )
    body = response.json()
    return TenantKey(tenant_id=body["tenant_id"], api_key=body["api_key"], name=name)


async def _serving_pids(settings: Settings) -> set[int]:
    """Process ids whose heartbeat says ``serving`` (a ``starting`` one is not ready yet)."""
    from autoloader_bus.connection import Bus
    from autoloader_bus.heartbeat import read_beats

    bus = await Bus.connect(settings.nats_url, stream=settings.stream, name="autoloader-up")
    try:
        return {beat.pid for beat in await read_beats(bus) if beat.serving}
    finally:
        await bus.close()


def _admin_url_and_name(url: str) -> tuple[str, str]:
    """Split a database URL into the URL of the server's ``postgres`` database and the name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or DATABASE_NAME
    return urlunsplit(parts._replace(path="/postgres")), name


def _wait_or_kill(process: subprocess.Popen[bytes], deadline: float) -> None:
    try:
        process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
