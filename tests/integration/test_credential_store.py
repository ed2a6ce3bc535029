"""CredentialStore on a real PostgreSQL: encrypted at rest, tenant-bound, rotatable."""

from __future__ import annotations

import pytest

from autoloader_core.crypto import SecretBox, generate_key_spec
from autoloader_core.errors import NotFoundError, TerminalError
from autoloader_db.credentials import CredentialStore
from autoloader_db.database import Pool

pytestmark = pytest.mark.integration

FIELDS = {"access_key_id": "AKIAEXAMPLEKEYID", "secret_access_key": "wJalrXUtnFEMI/K7MDENG-s3cr3t"}


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_spec(generate_key_spec("k1"))


async def test_round_trip_and_field_names(pool: Pool, box: SecretBox) -> None:
    store = CredentialStore(pool, box)
    ref = await store.save("tnt_a", FIELDS)
    assert ref.startswith("cred_")
    assert await store.load("tnt_a", ref) == FIELDS
    assert await store.resolve("tnt_a", ref) == FIELDS
    assert await store.resolve("tnt_a", None) is None
    assert await store.field_names("tnt_a", ref) == ["access_key_id", "secret_access_key"]
    assert await store.field_names_of("tnt_a", [ref, "cred_missing0000000"]) == {
        ref: ["access_key_id", "secret_access_key"]
    }


async def test_another_tenant_cannot_read_it(pool: Pool, box: SecretBox) -> None:
    store = CredentialStore(pool, box)
    ref = await store.save("tnt_a", FIELDS)
    with pytest.raises(NotFoundError, match=ref):
        await store.load("tnt_b", ref)
    with pytest.raises(NotFoundError):
        await store.field_names("tnt_b", ref)
    assert await store.field_names_of("tnt_b", [ref]) == {}


async def test_a_row_moved_to_another_tenant_does_not_decrypt(pool: Pool, box: SecretBox) -> None:
    store = CredentialStore(pool, box)
    ref = await store.save("tnt_a", FIELDS)
    await pool.execute("UPDATE secrets.credentials SET tenant_id = 'tnt_b' WHERE id = $1", ref)
    with pytest.raises(TerminalError, match="key does not match"):
        await store.load("tnt_b", ref)


async def test_the_stored_row_holds_no_plaintext(pool: Pool, box: SecretBox) -> None:
    ref = await CredentialStore(pool, box).save("tnt_a", FIELDS)
    row = await pool.fetchrow("SELECT * FROM secrets.credentials WHERE id = $1", ref)
    assert row is not None
    stored = b"".join(str(value).encode() if not isinstance(value, bytes) else value for value in row.values())
    for value in FIELDS.values():
        assert value.encode() not in stored
    assert row["key_id"] == "k1"


async def test_rotation_reencrypts_old_rows_under_the_new_key(pool: Pool) -> None:
    old, new = generate_key_spec("k0"), generate_key_spec("k1")
    refs = [await CredentialStore(pool, SecretBox.from_spec(old)).save("tnt_a", {"password": f"pw{i}"})
            for i in range(5)]

    rotating = CredentialStore(pool, SecretBox.from_spec(f"{new},{old}"))
    assert await rotating.rotate(batch_size=2) == 5
    assert await rotating.rotate() == 0  # nothing left under the old key

    only_new = CredentialStore(pool, SecretBox.from_spec(new))
    for i, ref in enumerate(refs):
        assert await only_new.load("tnt_a", ref) == {"password": f"pw{i}"}
    key_ids = {r["key_id"] for r in await pool.fetch("SELECT key_id FROM secrets.credentials")}
    assert key_ids == {"k1"}
    with pytest.raises(TerminalError, match="key id 'k1'"):
        await CredentialStore(pool, SecretBox.from_spec(old)).load("tnt_a", refs[0])


async def test_wrong_key_material_is_a_clear_error(pool: Pool, box: SecretBox) -> None:
    ref = await CredentialStore(pool, box).save("tnt_a", FIELDS)
    impostor = CredentialStore(pool, SecretBox.from_spec(generate_key_spec("k1")))
    with pytest.raises(TerminalError, match=f"credential '{ref}'.*key does not match") as info:
        await impostor.load("tnt_a", ref)
    assert all(value not in info.value.message for value in FIELDS.values())


async def test_rotation_stops_at_a_row_whose_key_is_missing(pool: Pool) -> None:
    await CredentialStore(pool, SecretBox.from_spec(generate_key_spec("lost"))).save("tnt_a", FIELDS)
    with pytest.raises(TerminalError, match="key id 'lost'"):
        await CredentialStore(pool, SecretBox.from_spec(generate_key_spec("k2"))).rotate()


async def test_saving_without_a_key_says_what_to_configure(pool: Pool) -> None:
    with pytest.raises(TerminalError, match="AUTOLOADER_SECRET_KEYS"):
        await CredentialStore(pool, SecretBox.from_spec("")).save("tnt_a", FIELDS)
