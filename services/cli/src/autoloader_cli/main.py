"""The ``autoloader`` command: run the embedded stack, the demo, and a few operator tasks.

    autoloader up [--host H] [--port P] [--data-dir D] [--demo] [--scheduler-replicas N] [--loader-replicas N]
                  [--discovery-replicas N] [--projector-replicas N]
                  [--with-observability]
    autoloader demo [--data-dir D]
    autoloader migrate [--data-dir D]
    autoloader tenants create NAME [--data-dir D] [--api-url URL]
    autoloader projections rebuild [--data-dir D]
    autoloader secrets rotate [--data-dir D]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from autoloader_cli.observability import Observability, start_observability
from autoloader_contracts.subjects import SCHEDULER_LEASE_BUCKET
from autoloader_core.errors import AutoloaderError, TerminalError
from autoloader_core.settings import Settings

if TYPE_CHECKING:
    from autoloader_cli.stack import Stack

DEFAULT_DATA_DIR = ".autoloader"


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except AutoloaderError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoloader", description="Scheduled file ingestion into Iceberg.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the embedded stack and keep it running")
    _add_data_dir(up)
    up.add_argument("--host", default=None, help="address the API binds (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=None, help="port the API binds (default 8000)")
    up.add_argument("--demo", action="store_true", help="run the demo once the stack is up")
    up.add_argument(
        "--scheduler-replicas",
        type=_positive,
        default=1,
        metavar="N",
        help="scheduler processes to run (default 1); one leads, the others take over within seconds if it dies",
    )
    up.add_argument(
        "--loader-replicas",
        type=_positive,
        default=1,
        metavar="N",
        help="loader processes to run (default 1); they share the batches of every run",
    )
    up.add_argument(
        "--discovery-replicas",
        type=_positive,
        default=1,
        metavar="N",
        help="discovery processes to run (default 1); they share its events and requests",
    )
    up.add_argument(
        "--projector-replicas",
        type=_positive,
        default=1,
        metavar="N",
        help="projector processes to run (default 1); one applies at a time, the others stand by",
    )
    up.add_argument(
        "--with-observability",
        action="store_true",
        help="also start a local Prometheus scraping every service (needs the prometheus binary)",
    )
    up.set_defaults(handler=cmd_up)

    demo = commands.add_parser("demo", help="start the stack, run the demo, print the result, stop")
    _add_data_dir(demo)
    demo.add_argument("--host", default=None, help=argparse.SUPPRESS)
    demo.add_argument("--port", type=int, default=None, help="port the API binds (default 8000)")
    demo.set_defaults(handler=cmd_demo)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    _add_data_dir(migrate)
    migrate.set_defaults(handler=cmd_migrate)

    tenants = commands.add_parser("tenants", help="tenant management (admin token)")
    tenant_commands = tenants.add_subparsers(dest="tenant_command", required=True)
    create = tenant_commands.add_parser("create", help="create a tenant and print its first API key")
    create.add_argument("name")
    _add_data_dir(create)
    create.add_argument("--api-url", default=None, help="API base URL (default: the running stack's)")
    create.set_defaults(handler=cmd_tenants_create)

    projections = commands.add_parser("projections", help="read-model maintenance")
    projection_commands = projections.add_subparsers(dest="projection_command", required=True)
    rebuild = projection_commands.add_parser("rebuild", help="rebuild the read models by replaying the log")
    _add_data_dir(rebuild)
    rebuild.set_defaults(handler=cmd_projections_rebuild)

    secrets = commands.add_parser("secrets", help="stored source credentials")
    secret_commands = secrets.add_subparsers(dest="secret_command", required=True)
    rotate = secret_commands.add_parser(
        "rotate",
        help="re-encrypt every stored credential with the active (first) key",
        description="Put a new key first in AUTOLOADER_SECRET_KEYS (or <data-dir>/secret-keys), keep the old "
        "one after it, restart the services, run this, then drop the old key.",
    )
    _add_data_dir(rotate)
    rotate.set_defaults(handler=cmd_secrets_rotate)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("AUTOLOADER_DATA_DIR") or DEFAULT_DATA_DIR),
        help="state of the embedded stack (default .autoloader)",
    )


# --- up / demo --------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    """Start the stack, print how to reach it, optionally run the demo, block until stopped."""
    from autoloader_cli.stack import Stack

    stack = Stack(
        args.data_dir,
        host=args.host,
        port=args.port,
        scheduler_replicas=args.scheduler_replicas,
        loader_replicas=args.loader_replicas,
        discovery_replicas=args.discovery_replicas,
        projector_replicas=args.projector_replicas,
    )
    observability: Observability | None = None
    _stop_on_sigterm()
    try:
        print(f"starting Autoloader (data in {stack.data_dir}) ...", flush=True)
        stack.start()
        if args.with_observability:
            observability = start_observability(stack.data_dir, stack.metrics_urls)
        _write_stack_file(stack)
        _print_banner(stack, observability)
        if args.demo:
            _print_demo(stack)
        print("Press Ctrl-C to stop.", flush=True)
        _supervise(stack)
    except KeyboardInterrupt:
        pass
    finally:
        _ignore_signals()
        print("stopping Autoloader ...", flush=True)
        if observability is not None:
            observability.stop()
        stack.stop()
        (stack.data_dir / "stack.json").unlink(missing_ok=True)
        print("stopped.", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the stack, run the demo once, print the result and stop."""
    from autoloader_cli.stack import Stack

    stack = Stack(args.data_dir, host=args.host, port=args.port)
    _stop_on_sigterm()
    try:
        print(f"starting Autoloader (data in {stack.data_dir}) ...", flush=True)
        stack.start()
        return 0 if _print_demo(stack) else 1
    except KeyboardInterrupt:
        return 130
    finally:
        _ignore_signals()
        stack.stop()


def _print_banner(stack: Stack, observability: Observability | None = None) -> None:
    tenant = stack.default_tenant
    lines = [
        "",
        "Autoloader is running.",
        f"  Web UI:       {stack.api_url}/  (open it in a browser; sign in with the API key below)",
        f"  HTTP API:     {stack.api_url}/api/v1",
        f"  API docs:     {stack.api_url}/schema  (OpenAPI JSON at /schema/openapi.json)",
        f"  API key:      {tenant.api_key if tenant else '?'}  (tenant 'default'; kept in "
        f"{stack.data_dir / 'default-tenant.json'})",
    ]
    if not os.environ.get("AUTOLOADER_ADMIN_TOKEN"):
        lines.append(f"  Admin token:  {stack.admin_token}  (kept in {stack.data_dir / 'admin-token'})")
    if not os.environ.get("AUTOLOADER_SECRET_KEYS"):
        lines.append(f"  Secret keys:  {stack.data_dir / 'secret-keys'}  (encrypt stored credentials; back it up)")
    lines += [
        f"  Landing dir:  {stack.landing_dir}  (local sources may read only here)",
        f"  Logs:         {stack.logs_dir}",
        "  Metrics:      " + ", ".join(f"{name} {url}" for name, url in stack.metrics_urls.items()),
    ]
    lines += _replica_lines(stack)
    if observability is not None:
        lines += _observability_lines(observability)
    lines.append("")
    print("\n".join(lines), flush=True)


REPLICA_LINES = {
    "scheduler": "Schedulers:   {n} replicas ({pids}); one leads at a time "
    f"(lease in the NATS KV bucket {SCHEDULER_LEASE_BUCKET})",
    "discovery": "Discovery:    {n} replicas ({pids}); they share its events and requests",
    "loader": "Loaders:      {n} replicas ({pids}); they share every run's batches",
    "projector": "Projectors:   {n} replicas ({pids}); one applies at a time, the others stand by",
}
"""The banner's line for a service run as several processes."""


def _replica_lines(stack: Stack) -> list[str]:
    from autoloader_cli.stack import service_of

    lines = []
    for service, line in REPLICA_LINES.items():
        names = [name for name in stack.processes if service_of(name) == service]
        if len(names) > 1:
            pids = ", ".join(f"{name} pid {stack.services[name].pid}" for name in names)
            lines.append("  " + line.format(n=len(names), pids=pids))
    return lines


def _observability_lines(observability: Observability) -> list[str]:
    lines = []
    if observability.prometheus_url is not None:
        url, pid = observability.prometheus_url, observability.pid
        lines.append(f"  Prometheus:   {url}  (scrapes every service, pid {pid})")
    lines += [f"  {name.capitalize() + ':':<13} not started: {why}" for name, why in observability.not_started.items()]
    return lines


def _print_demo(stack: Stack) -> bool:
    """Run the demo against ``stack``; print the result. Return whether the run succeeded."""
    from autoloader_cli.demo import run_demo
    print("running the demo: 3 CSV files x 1,000 orders -> lake.demo.orders ...", flush=True)
    try:
        result = run_demo(stack.api_url, stack.api_key, stack.landing_dir)
    except AutoloaderError as exc:
        print(f"demo failed: {exc.message}", file=sys.stderr, flush=True)
        return False
    print("\n".join(result.lines()), flush=True)
    return result.status == "success"


def _supervise(stack: Stack) -> None:
    """Block until interrupted, restarting any service that exits (with backoff, never giving up)."""
    from autoloader_cli.supervisor import Supervisor

    Supervisor(stack).run_forever()


def _stop_on_sigterm() -> None:
    # SIGTERM behaves like Ctrl-C: unwind into the `finally` that stops the stack in order.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _ignore_signals() -> None:
    # Once stopping, a second Ctrl-C must not abandon half-stopped servers.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _write_stack_file(stack: Stack) -> None:
    """Record where the running stack listens, for ``tenants create`` and ``projections rebuild``."""
    assert stack.settings is not None
    info = {"api_url": stack.api_url, "nats_url": stack.settings.nats_url,
            "database_url": stack.settings.database_url, "pid": os.getpid()}
    (stack.data_dir / "stack.json").write_text(json.dumps(info, indent=2) + "\n")


def _running_stack(data_dir: Path) -> dict[str, str]:
    path = data_dir / "stack.json"
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()))


# --- operator commands ------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply migrations to AUTOLOADER_DATABASE_URL, or to the embedded PostgreSQL of the data dir."""
    with _migrated_database(args.data_dir) as (_url, applied):
        print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt stored credentials with the active key; print how many changed (never a key)."""
    from autoloader_cli.stack import run_async, secret_keys
    from autoloader_core.crypto import KEYS_VARIABLE, SecretBox
    from autoloader_db.credentials import CredentialStore
    from autoloader_db.database import create_pool

    box = SecretBox.from_spec(secret_keys(args.data_dir, os.environ))
    if box.active_key_id is None:
        raise TerminalError(
            f"no encryption keys: set {KEYS_VARIABLE} or run `autoloader up` in this data dir first"
        )

    async def rotate(url: str) -> int:
        pool = await create_pool(url, max_size=2)
        try:
            return await CredentialStore(pool, box).rotate()
        finally:
            await pool.close()

    with _migrated_database(args.data_dir) as (url, _applied):
        count = run_async(rotate(url))
    print(f"re-encrypted {count} credential(s) with key {box.active_key_id!r}")
    return 0


@contextlib.contextmanager
def _migrated_database(data_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """The database URL (env, running stack, or the data dir's embedded server started for the
    duration) after applying pending migrations; yields it with the migrations applied."""
    from autoloader_cli.servers import PostgresServer
    from autoloader_cli.stack import DATABASE_NAME, _admin_url_and_name, run_async
    from autoloader_db.database import ensure_database, migrate

    url = os.environ.get("AUTOLOADER_DATABASE_URL") or _running_stack(data_dir).get("database_url")
    server = None
    if not url:
        server = PostgresServer(data_dir.resolve() / "postgres", fsync=True).start()
        url = server.url_for(DATABASE_NAME)
    admin_url, name = _admin_url_and_name(url)

    async def run() -> list[str]:
        await ensure_database(admin_url, name)
        return await migrate(url)

    try:
        yield url, run_async(run())
    finally:
        if server is not None:
            server.stop()


def cmd_tenants_create(args: argparse.Namespace) -> int:
    """Create a tenant through the running API with the admin token; print its key."""
    from autoloader_cli.stack import create_tenant

    settings = Settings.from_env()
    api_url = (args.api_url or _running_stack(args.data_dir).get("api_url")
               or f"http://{settings.api_host}:{settings.api_port}")
    token = settings.admin_token.reveal()
    token_file = args.data_dir / "admin-token"
    if not token and token_file.exists():
        token = token_file.read_text().strip()
    if not token:
        raise TerminalError(
            "no admin token: set AUTOLOADER_ADMIN_TOKEN or run `autoloader up` in this data dir"
        )
    tenant = create_tenant(api_url, token, args.name)
    created = {"tenant_id": tenant.tenant_id, "name": tenant.name, "api_key": tenant.api_key}
    print(json.dumps(created, indent=2))
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    """Run the projector's rebuild against the running stack (or the configured servers)."""
    env = dict(os.environ)
    running = _running_stack(args.data_dir)
    for key, var in (("nats_url", "AUTOLOADER_NATS_URL"), ("database_url", "AUTOLOADER_DATABASE_URL")):
        if not env.get(var) and running.get(key):
            env[var] = running[key]
    if not env.get("AUTOLOADER_NATS_URL") or not env.get("AUTOLOADER_DATABASE_URL"):
        raise TerminalError(
            "cannot find the stack: start it with `autoloader up` (same --data-dir) "
            "or set AUTOLOADER_NATS_URL and AUTOLOADER_DATABASE_URL"
        )
    env.setdefault("AUTOLOADER_DATA_DIR", str(args.data_dir.resolve()))
    argv = [sys.executable, "-m", "autoloader_projector", "rebuild"]
    return subprocess.run(argv, env=env, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
