"""docker-compose.yml gives every service its secrets as Compose secrets (files), never as plain variables.

No Docker engine runs here, so the file is checked as data (the services read the files through the
``*_FILE`` variables that ``Settings.from_env`` understands) and by the Compose client's own
validation (``config -q`` needs no engine).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoloader_core.settings import Secret, Settings

pytestmark = pytest.mark.unit

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
SERVICES = ("api", "scheduler", "discovery", "loader", "projector")
SECRETS = {"AUTOLOADER_ADMIN_TOKEN": "autoloader_admin_token", "AUTOLOADER_SECRET_KEYS": "autoloader_secret_keys"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reads_its_secrets_from_compose_secret_files(service: str) -> None:
    spec = _compose()["services"][service]
    environment = spec["environment"]
    for variable, secret in SECRETS.items():
        assert variable not in environment, f"{service}: {variable} must come from a secret file"
        assert environment[f"{variable}_FILE"] == f"/run/secrets/{secret}"
        assert secret in spec["secrets"]


def test_the_secrets_are_declared_from_the_operators_environment() -> None:
    declared = _compose()["secrets"]
    assert {name: declared[name] for name in SECRETS.values()} == {
        secret: {"environment": variable} for variable, secret in SECRETS.items()
    }


def test_settings_read_the_compose_secret_files(tmp_path: Path) -> None:
    environment = dict(_compose()["services"]["loader"]["environment"])
    for variable, secret in SECRETS.items():
        (tmp_path / secret).write_text("k1:c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm\n")
        environment[f"{variable}_FILE"] = str(tmp_path / secret)
    settings = Settings.from_env(environment)
    assert settings.secret_keys == Secret("k1:c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm")
    assert settings.admin_token


def test_the_stack_has_its_servers_each_with_a_health_check() -> None:
    services = _compose()["services"]
    wanted = {"nats", "postgres", "minio", "iceberg-rest", "spark-connect", "prometheus", "grafana", *SERVICES}
    assert wanted <= set(services)
    assert {name for name in wanted if "healthcheck" not in services[name]} == set()


def test_each_service_starts_after_what_it_waits_for_is_healthy_or_done() -> None:
    services = _compose()["services"]
    for name, spec in services.items():
        for needed, condition in spec.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{name} waits for {needed}, which has no health check"
            else:
                assert condition["condition"] == "service_completed_successfully", (name, needed)
                assert "healthcheck" not in services[needed], f"{needed} is a one-shot job"


def test_the_cluster_catalog_is_the_rest_catalog_on_the_object_store() -> None:
    services = _compose()["services"]
    command = services["spark-connect"]["command"]
    confs = dict(arg.split("=", 1) for arg in command if "=" in arg and arg.startswith("spark."))
    assert confs["spark.sql.catalog.lake.type"] == "rest"
    assert confs["spark.sql.catalog.lake.uri"] == "http://iceberg-rest:8181"
    assert services["iceberg-rest"]["environment"]["CATALOG_S3_ENDPOINT"] == confs["spark.sql.catalog.lake.s3.endpoint"]
    assert confs["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"


COMPOSE_FILES = (COMPOSE, COMPOSE.parent / "deploy" / "spark-iceberg" / "compose.yaml")
CACHED_CLIENT = Path.home() / ".cache" / "autoloader" / "bin" / "docker-compose"


def _compose_client() -> Path:
    """The Compose v5 client: ``AUTOLOADER_COMPOSE_CLIENT`` (set by .ci/run, so CI never skips) or the cache."""
    named = os.environ.get("AUTOLOADER_COMPOSE_CLIENT")
    if named:
        return Path(named)
    if not CACHED_CLIENT.exists():
        pytest.skip("no Compose client: run deploy/compose-client/build.sh (CI does)")
    return CACHED_CLIENT


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda path: path.name)
def test_the_compose_client_validates_the_file(compose_file: Path) -> None:
    environment = {"PATH": os.environ["PATH"], "HOME": str(Path.home())} | dict.fromkeys(SECRETS, "x")
    checked = subprocess.run(
        [str(_compose_client()), "-f", str(compose_file), "config", "-q"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
