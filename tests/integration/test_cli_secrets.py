"""`autoloader secrets rotate` and the stack's generated key file, on a real PostgreSQL."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest

from autoloader_cli.main import main
from autoloader_cli.stack import secret_keys
from autoloader_core.crypto import SecretBox, generate_key_spec
from autoloader_core.errors import TerminalError
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import create_pool

pytestmark = pytest.mark.integration


async def test_rotate_reencrypts_every_credential_with_the_active_key(
    postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/cli_{uuid.uuid4().hex[:12]}"
    old, new = generate_key_spec("k0"), generate_key_spec("k1")
    monkeypatch.setenv("AUTOLOADER_DATABASE_URL", url)
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    pool = await create_pool(url, max_size=2)
    try:
        refs = [await CredentialStore(pool, SecretBox.from_spec(old)).save("tnt_a", {"password": f"p{i}"})
                for i in range(3)]
        capsys.readouterr()
        monkeypatch.setenv("AUTOLOADER_SECRET_KEYS", f"{new},{old}")

        assert main(["secrets", "rotate", "--data-dir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "re-encrypted 3 credential(s) with key 'k1'" in out
        assert new.partition(":")[2] not in out
        only_new = CredentialStore(pool, SecretBox.from_spec(new))
        assert [await only_new.load("tnt_a", ref) for ref in refs] == [{"password": f"p{i}"} for i in range(3)]

        assert main(["secrets", "rotate", "--data-dir", str(tmp_path)]) == 0
        assert "re-encrypted 0 credential(s)" in capsys.readouterr().out
    finally:
        await pool.close()


def test_rotate_without_keys_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("AUTOLOADER_SECRET_KEYS", raising=False)
    assert main(["secrets", "rotate", "--data-dir", str(tmp_path)]) == 1
    assert "set AUTOLOADER_SECRET_KEYS or run `autoloader up`" in capsys.readouterr().err


def test_the_stack_generates_a_private_key_file_once_and_the_environment_wins(tmp_path: Path) -> None:
    generated = secret_keys(tmp_path, {}, generate=True)
    path = tmp_path / "secret-keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SecretBox.from_spec(generated).active_key_id is not None
    assert secret_keys(tmp_path, {}, generate=True) == generated
    explicit = generate_key_spec("ops1")
    assert secret_keys(tmp_path, {"AUTOLOADER_SECRET_KEYS": explicit}) == explicit
    assert secret_keys(tmp_path / "nothing-here", {}) == ""


def test_a_malformed_key_file_is_named_without_its_content(tmp_path: Path) -> None:
    (tmp_path / "secret-keys").write_text("k1:c2hvcnQ=\n")
    with pytest.raises(TerminalError, match="has 5 bytes") as info:
        secret_keys(tmp_path, {})
    assert str(tmp_path / "secret-keys") in info.value.message
    assert "c2hvcnQ" not in info.value.message
