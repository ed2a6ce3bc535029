"""Settings: `.env.example` documents exactly the variables the code reads; secrets never print."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoloader_core.settings import Secret, Settings, env_variables, with_env_table

pytestmark = pytest.mark.unit

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_settings_table_in_the_operations_guide_is_current() -> None:
    text = OPERATIONS.read_text()
    assert with_env_table(text) == text, "run `just env-docs` and commit docs/operations.md"
    assert all(f"`{name}`" in text for name in env_variables())


def _documented() -> dict[str, str]:
    """Map each variable of .env.example to the comment line just above it."""
    documented: dict[str, str] = {}
    comment = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("#"):
            comment = line.removeprefix("#").strip()
        elif "=" in line:
            name = line.split("=", 1)[0].strip()
            assert name not in documented, f"{name} appears twice in .env.example"
            documented[name] = comment
            comment = ""
    return documented


def test_every_setting_is_in_env_example_with_its_doc() -> None:
    documented = _documented()
    missing = sorted(set(env_variables()) - set(documented))
    assert not missing, f"add to .env.example: {missing}"
    for name, doc in env_variables().items():
        assert documented[name].startswith(doc), f"{name}: comment above it should start with {doc!r}"


def test_env_example_lists_no_unknown_variable() -> None:
    unknown = sorted(set(_documented()) - set(env_variables()))
    assert not unknown, f"remove from .env.example (no setting reads them): {unknown}"


def test_env_example_values_parse() -> None:
    values = dict.fromkeys(_documented(), "")
    assert Settings.from_env(values) == Settings()


def test_secret_never_shows_its_value() -> None:
    settings = Settings.from_env({"AUTOLOADER_ADMIN_TOKEN": "s3cr3t-token"})
    assert "s3cr3t-token" not in repr(settings)
    assert "s3cr3t-token" not in str(settings.admin_token)
    assert "s3cr3t-token" not in f"{settings.admin_token}"
    assert settings.admin_token.reveal() == "s3cr3t-token"
    assert repr(Secret("")) == "Secret('')"


def test_settings_round_trip_through_the_environment() -> None:
    settings = Settings.from_env({
        "AUTOLOADER_API_PORT": "8123",
        "AUTOLOADER_LOCAL_ROOTS": "/srv/a:/srv/b",
        "AUTOLOADER_ADMIN_TOKEN": "tok",
        "AUTOLOADER_CLOCK_SCALE": "60",
    })
    assert settings.api_port == 8123
    assert settings.local_roots == (Path("/srv/a"), Path("/srv/b"))
    assert Settings.from_env(settings.to_env()) == settings


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="AUTOLOADER_API_PORT"):
        Settings.from_env({"AUTOLOADER_API_PORT": "eighty"})


def test_a_secret_may_come_from_the_file_its_file_variable_names(tmp_path: Path) -> None:
    keys = tmp_path / "secret-keys"
    keys.write_text("k1:c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm\n")
    token = tmp_path / "token"
    token.write_text("admin-from-file")

    settings = Settings.from_env(
        {"AUTOLOADER_SECRET_KEYS_FILE": str(keys), "AUTOLOADER_ADMIN_TOKEN_FILE": str(token)}
    )

    assert settings.secret_keys.reveal() == "k1:c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm"
    assert settings.admin_token.reveal() == "admin-from-file"
    # The variable itself wins over its file.
    assert Settings.from_env(
        {"AUTOLOADER_ADMIN_TOKEN": "direct", "AUTOLOADER_ADMIN_TOKEN_FILE": str(token)}
    ).admin_token.reveal() == "direct"


def test_an_unreadable_secret_file_names_the_variable_not_the_content(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"AUTOLOADER_SECRET_KEYS_FILE=.*cannot be read"):
        Settings.from_env({"AUTOLOADER_SECRET_KEYS_FILE": str(tmp_path / "missing")})
