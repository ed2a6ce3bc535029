"""Typed settings read once from the environment in each entry point.

Every field names its environment variable beside its default; ``.env.example`` lists them all
and a test keeps the two in sync.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class Secret:
    """A string whose ``repr``/``str`` never shows the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call only where it is really needed."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _env(name: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": name, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Settings shared by the Autoloader services (each reads only what it needs)."""

    nats_url: str = _env("AUTOLOADER_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL")
    database_url: str = _env(
        "AUTOLOADER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/autoloader", "PostgreSQL URL"
    )
    data_dir: Path = _env("AUTOLOADER_DATA_DIR", Path(".autoloader"), "state of the embedded stack")
    admin_token: Secret = _env("AUTOLOADER_ADMIN_TOKEN", Secret(""), "admin API key (tenant management)")
    secret_keys: Secret = _env(
        "AUTOLOADER_SECRET_KEYS",
        Secret(""),
        "keys encrypting stored source credentials: 'kid1:base64key[,kid0:base64oldkey]', first = active",
    )
    local_roots: tuple[Path, ...] = _env(
        "AUTOLOADER_LOCAL_ROOTS",
        (),
        "colon-separated folders local sources may read (default <data>/landing)",
    )
    warehouse: str = _env("AUTOLOADER_WAREHOUSE", "", "Iceberg warehouse URI (default file://<data>/warehouse)")
    stream: str = _env("AUTOLOADER_STREAM", "AUTOLOADER", "JetStream stream holding the event log")
    api_host: str = _env("AUTOLOADER_API_HOST", "127.0.0.1", "address the API binds")
    api_port: int = _env("AUTOLOADER_API_PORT", 8000, "port the API binds")
    rate_limit_per_second: float = _env(
        "AUTOLOADER_RATE_LIMIT_PER_SECOND",
        50.0,
        "API requests per second each tenant may send, sustained (0 = no limit; admin and /health are exempt)",
    )
    rate_limit_burst: int = _env(
        "AUTOLOADER_RATE_LIMIT_BURST", 500, "API requests a tenant may send at once before the sustained rate applies"
    )
    api_max_body_bytes: int = _env(
        "AUTOLOADER_API_MAX_BODY_BYTES", 1024 * 1024, "largest API request body accepted (larger: 413)"
    )
    ack_wait_seconds: float = _env("AUTOLOADER_ACK_WAIT_SECONDS", 60.0, "redelivery delay of an unacked message")
    max_deliver: int = _env("AUTOLOADER_MAX_DELIVER", 5, "deliveries of a message before it fails for good")
    spark_idle_seconds: float = _env(
        "AUTOLOADER_SPARK_IDLE_SECONDS", 300.0, "idle Spark Connect sessions are closed after this many seconds"
    )
    heartbeat_seconds: float = _env("AUTOLOADER_HEARTBEAT_SECONDS", 2.0, "service heartbeat interval")
    scheduler_lease_seconds: float = _env(
        "AUTOLOADER_SCHEDULER_LEASE_SECONDS",
        3.0,
        "scheduler leader lease: a follower takes over after this long unrenewed",
    )
    scheduler_renew_seconds: float = _env(
        "AUTOLOADER_SCHEDULER_RENEW_SECONDS",
        1.0,
        "how often the scheduler leader renews its lease (less than the lease)",
    )
    run_watchdog_seconds: float = _env(
        "AUTOLOADER_RUN_WATCHDOG_SECONDS", 30.0, "how often discovery settles runs nothing can finish (and their grace)"
    )
    stuck_run_seconds: float = _env(
        "AUTOLOADER_STUCK_RUN_SECONDS", 3600.0, "a run running longer than this is listed as stuck in /status"
    )
    clock_scale: float = _env(
        "AUTOLOADER_CLOCK_SCALE", 1.0, "clock speed of the scheduler and discovery (tests only; 1 = real)"
    )
    batch_max_files: int = _env("AUTOLOADER_BATCH_MAX_FILES", 1000, "files per loader batch")
    batch_max_bytes: int = _env("AUTOLOADER_BATCH_MAX_BYTES", 512 * 1024 * 1024, "bytes per loader batch")
    fault: str = _env("AUTOLOADER_FAULT", "", "fault-injection point for crash tests (never set in production)")
    log_level: str = _env("AUTOLOADER_LOG_LEVEL", "INFO", "log level")
    metrics_host: str = _env(
        "AUTOLOADER_METRICS_HOST", "127.0.0.1", "address the Prometheus endpoint of a background service binds"
    )
    metrics_port: int = _env(
        "AUTOLOADER_METRICS_PORT",
        0,
        "port of a background service's Prometheus endpoint (0 = none; the api serves /metrics on its own port)",
    )
    otlp_endpoint: str = _env(
        "AUTOLOADER_OTLP_ENDPOINT",
        "",
        "OpenTelemetry collector URL, OTLP over HTTP (e.g. http://collector:4318); traces are exported only when set",
    )

    @property
    def allowed_roots(self) -> tuple[Path, ...]:
        """Folders local sources may read, resolved (symlinks followed)."""
        roots = self.local_roots or (self.data_dir / "landing",)
        return tuple(Path(os.path.realpath(root)) for root in roots)

    @property
    def warehouse_uri(self) -> str:
        """The Iceberg warehouse location."""
        return self.warehouse or (self.data_dir.resolve() / "warehouse").as_uri()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment).

        Raises:
            ValueError: A variable holds a value of the wrong type; the message names it.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = env.get(name)
            if (raw is None or raw == "") and isinstance(f.default, Secret):
                raw = _secret_file(env, name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(f.default, raw)
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not valid: {exc}") from exc
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """Render these settings as environment variables (to launch child services)."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                rendered = value.reveal()
            elif isinstance(value, tuple):
                rendered = ":".join(str(v) for v in value)
            else:
                rendered = str(value)
            env[f.metadata["env"]] = rendered
        return env


def _secret_file(env: Mapping[str, str], name: str) -> str | None:
    """A secret from the file ``<name>_FILE`` names (Docker and Kubernetes mount secrets as files).

    Raises:
        ValueError: The file cannot be read; the message names the variable, never the content.
    """
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from exc


def env_variables() -> dict[str, str]:
    """Map every settings environment variable to its documentation line."""
    return {f.metadata["env"]: f.metadata["doc"] for f in fields(Settings)}


ENV_TABLE_BEGIN = "<!-- settings table: generated by `just env-docs` from autoloader_core.settings -->"
ENV_TABLE_END = "<!-- end of settings table -->"


def env_table() -> str:
    """Every setting as a Markdown table (variable, default, meaning), for docs/operations.md."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        rows.append(f"| `{f.metadata['env']}` | {_default_shown(f.default)} | {_cell(f.metadata['doc'])} |")
    return "\n".join(rows)


def with_env_table(markdown: str) -> str:
    """Return ``markdown`` with the text between the table's markers replaced by :func:`env_table`."""
    head, rest = markdown.split(ENV_TABLE_BEGIN, 1)
    _, tail = rest.split(ENV_TABLE_END, 1)
    return f"{head}{ENV_TABLE_BEGIN}\n{env_table()}\n{ENV_TABLE_END}{tail}"


def _cell(text: str) -> str:
    # A pipe ends a Markdown cell; angle brackets would be read as HTML tags.
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _default_shown(default: Any) -> str:
    if isinstance(default, Secret):
        return "(secret; also `_FILE`)"
    if isinstance(default, tuple):
        default = ":".join(str(v) for v in default)
    return f"`{default}`" if str(default) != "" else "(none)"


_PARSERS: tuple[tuple[type, Any], ...] = (
    (Secret, Secret),
    (bool, lambda raw: raw.lower() in {"1", "true", "yes", "on"}),
    (int, int),
    (float, float),
    (Path, Path),
    (tuple, lambda raw: tuple(Path(part) for part in raw.split(":") if part)),
)


def _parse(default: Any, raw: str) -> Any:
    # bool before int: a bool is an int too.
    for kind, parse in _PARSERS:
        if isinstance(default, kind):
            return parse(raw)
    return raw
