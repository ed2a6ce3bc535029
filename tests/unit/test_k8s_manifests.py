"""deploy/k8s is checked as data (no cluster here): every manifest parses, every setting it sets is
a real one, secrets arrive as files, and the probes and commands point at things that exist."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoloader_api.app import create_app
from autoloader_core.settings import Settings, env_variables

pytestmark = pytest.mark.unit

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SERVICES = {"api", "scheduler", "discovery", "loader", "projector"}
SECRET_VARIABLES = ("AUTOLOADER_ADMIN_TOKEN", "AUTOLOADER_SECRET_KEYS")


def _kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def _documents() -> list[dict[str, Any]]:
    files = [K8S / name for name in _kustomization()["resources"]]
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _documents() if doc["kind"] == kind]


def _containers() -> list[dict[str, Any]]:
    pods = [doc["spec"]["template"]["spec"] for doc in _of_kind("Deployment") + _of_kind("Job")]
    return [container for pod in pods for container in pod["containers"]]


def _setting_name(variable: str) -> str:
    return variable.removesuffix("_FILE") if variable.removesuffix("_FILE") in SECRET_VARIABLES else variable


def test_every_listed_manifest_exists_and_every_manifest_is_listed() -> None:
    listed = set(_kustomization()["resources"])
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_one_deployment_per_service_running_its_module() -> None:
    deployments = {doc["metadata"]["name"].removeprefix("autoloader-"): doc for doc in _of_kind("Deployment")}
    assert set(deployments) == SERVICES
    for name, doc in deployments.items():
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"autoloader_{name}"]
        assert importlib.util.find_spec(f"autoloader_{name}.__main__") is not None
        assert {"requests", "limits"} <= set(container["resources"]), name
        assert "livenessProbe" in container, name


def test_every_variable_set_is_a_setting() -> None:
    known = set(env_variables())
    (config,) = _of_kind("ConfigMap")
    variables = set(config["data"]) | {env["name"] for c in _containers() for env in c.get("env", [])}
    assert {_setting_name(v) for v in variables} - known == set()


def test_secrets_are_read_from_the_mounted_secret_not_from_variables() -> None:
    (config,) = _of_kind("ConfigMap")
    (secret,) = _of_kind("Secret")
    for variable in SECRET_VARIABLES:
        assert variable not in config["data"]
        path = Path(config["data"][f"{variable}_FILE"])
        assert path.name in secret["stringData"]
    for container in _containers():
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["secrets"] == str(path.parent), container["name"]


def test_the_configmap_is_understood_by_the_settings(tmp_path: Path) -> None:
    (config,) = _of_kind("ConfigMap")
    environment = dict(config["data"])
    for variable in SECRET_VARIABLES:
        (tmp_path / variable).write_text("k1:c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm\n")
        environment[f"{variable}_FILE"] = str(tmp_path / variable)
    settings = Settings.from_env(environment)
    assert settings.metrics_port == 9464
    assert settings.admin_token


def test_the_api_probes_are_routes_of_the_api() -> None:
    (api,) = [d for d in _of_kind("Deployment") if d["metadata"]["name"] == "autoloader-api"]
    (container,) = api["spec"]["template"]["spec"]["containers"]
    routes = {route.path for route in create_app(Settings(), bus=None, pool=None).routes}  # type: ignore[arg-type]
    probes = {container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]}
    assert probes == {"/health/live", "/health/ready"}
    assert probes <= routes
