"""SecretBox: AES-GCM with named keys; errors name key ids and variables, never key material."""

from __future__ import annotations

import base64

import pytest

from autoloader_core.crypto import SecretBox, generate_key_spec
from autoloader_core.errors import TerminalError
from autoloader_core.settings import Settings

pytestmark = pytest.mark.unit


def test_round_trip_with_the_active_key() -> None:
    box = SecretBox.from_spec(generate_key_spec("k1"))
    sealed = box.encrypt(b"hunter2", b"tenant\x1fcred")
    assert sealed.key_id == "k1"
    assert b"hunter2" not in sealed.ciphertext
    assert box.decrypt(*sealed, b"tenant\x1fcred") == b"hunter2"


def test_nonces_differ_between_encryptions() -> None:
    box = SecretBox.from_spec(generate_key_spec("k1"))
    assert box.encrypt(b"same", b"a").nonce != box.encrypt(b"same", b"a").nonce


def test_first_key_is_active_and_old_keys_still_decrypt() -> None:
    old, new = generate_key_spec("k0"), generate_key_spec("k1")
    sealed = SecretBox.from_spec(old).encrypt(b"v", b"a")
    both = SecretBox.from_spec(f"{new},{old}")
    assert both.active_key_id == "k1"
    assert both.key_ids == ("k1", "k0")
    assert both.decrypt(*sealed, b"a") == b"v"


def test_unknown_key_id_names_it() -> None:
    sealed = SecretBox.from_spec(generate_key_spec("gone")).encrypt(b"v", b"a")
    with pytest.raises(TerminalError, match=r"key id 'gone'.*AUTOLOADER_SECRET_KEYS"):
        SecretBox.from_spec(generate_key_spec("k1")).decrypt(*sealed, b"a")


def test_wrong_key_material_or_aad_is_a_clear_error() -> None:
    sealed = SecretBox.from_spec(generate_key_spec("k1")).encrypt(b"v", b"a")
    other = SecretBox.from_spec(generate_key_spec("k1"))
    with pytest.raises(TerminalError, match="key does not match"):
        other.decrypt(*sealed, b"a")
    with pytest.raises(TerminalError, match="key does not match"):
        SecretBox.from_spec(generate_key_spec("k1")).decrypt(*sealed, b"moved")


def test_no_key_configured_says_what_to_set() -> None:
    box = SecretBox.from_settings(Settings())
    assert box.active_key_id is None
    with pytest.raises(TerminalError, match="set AUTOLOADER_SECRET_KEYS"):
        box.encrypt(b"v", b"a")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nocolon", "entry 1 is not 'keyid:base64key'"),
        ("k1:!!!notbase64", "key of id 'k1' is not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "has 5 bytes; AES-256 needs exactly 32"),
        ("bad id:" + base64.b64encode(bytes(32)).decode(), "entry 1"),
    ],
)
def test_malformed_spec_is_refused_without_echoing_the_key(spec: str, words: str) -> None:
    with pytest.raises(TerminalError, match="AUTOLOADER_SECRET_KEYS") as info:
        SecretBox.from_spec(spec)
    assert words in info.value.message
    assert spec.partition(":")[2] not in info.value.message or not spec.partition(":")[2]


def test_duplicate_key_id_is_refused() -> None:
    with pytest.raises(TerminalError, match="appears twice"):
        SecretBox.from_spec(f"{generate_key_spec('k1')},{generate_key_spec('k1')}")


def test_settings_keep_the_keys_secret() -> None:
    spec = generate_key_spec("k1")
    settings = Settings.from_env({"AUTOLOADER_SECRET_KEYS": spec})
    assert spec.partition(":")[2] not in repr(settings)
    assert SecretBox.from_settings(settings).active_key_id == "k1"
