"""Authenticated encryption of stored secrets (AES-256-GCM) with named keys for rotation.

Keys come from configuration as ``AUTOLOADER_SECRET_KEYS="kid1:base64key[,kid0:base64oldkey]"``:
the first key encrypts, every listed key decrypts. Each ciphertext records the id of its key, so
after a new key is put first, ``rotate`` can re-encrypt old rows and the old key can be dropped.
Messages name key ids and variables, never key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from autoloader_core.errors import TerminalError

if TYPE_CHECKING:
    from autoloader_core.settings import Settings

KEYS_VARIABLE = "AUTOLOADER_SECRET_KEYS"
KEY_BYTES = 32
NONCE_BYTES = 12  # the GCM standard nonce; random per message
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Sealed(NamedTuple):
    """One encrypted value: the key that sealed it, its nonce and the ciphertext (with tag)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


class SecretBox:
    """Encrypts with the active key; decrypts with any configured key.

    Args:
        keys: Key id -> 32-byte AES key.
        active_key_id: The key new ciphertexts use; None only when ``keys`` is empty (then every
            call fails saying how to configure keys).

    Raises:
        TerminalError: A key is not 32 bytes, a key id is malformed, or the active id is unknown.
    """

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str | None) -> None:
        for key_id, key in keys.items():
            _check_key(key_id, key)
        if keys and active_key_id not in keys:
            raise TerminalError(f"active secret key id {active_key_id!r} is not among the configured keys")
        self._ciphers = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self._active = active_key_id if keys else None

    @classmethod
    def from_spec(cls, spec: str) -> SecretBox:
        """Build a box from ``"kid1:base64key[,kid0:base64oldkey]"`` (first = active; empty = no keys).

        Raises:
            TerminalError: The text is malformed; the message names the entry by position and id.
        """
        entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(entries, start=1):
            key_id, key = _parse_entry(position, entry)
            if key_id in keys:
                raise TerminalError(f"{KEYS_VARIABLE}: key id {key_id!r} appears twice; give each key its own id")
            keys[key_id] = key
        return cls(keys, next(iter(keys), None))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Build the box from ``settings.secret_keys`` (``AUTOLOADER_SECRET_KEYS``).

        Raises:
            TerminalError: The variable is malformed.
        """
        return cls.from_spec(settings.secret_keys.reveal())

    @property
    def active_key_id(self) -> str | None:
        """The id of the key that encrypts (None when no key is configured)."""
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every configured key id, active first."""
        return tuple(self._ciphers)

    def encrypt(self, plaintext: bytes, aad: bytes) -> Sealed:
        """Seal ``plaintext`` under the active key, bound to ``aad`` (needed again to decrypt).

        Raises:
            TerminalError: No key is configured.
        """
        if self._active is None:
            raise TerminalError(
                f"cannot store credentials: no encryption key is configured; set {KEYS_VARIABLE} "
                "to 'keyid:<base64 of 32 random bytes>' (autoloader up generates one)"
            )
        nonce = os.urandom(NONCE_BYTES)
        return Sealed(self._active, nonce, self._ciphers[self._active].encrypt(nonce, plaintext, aad))

    def decrypt(self, key_id: str, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        """Open a value sealed by :meth:`encrypt` with the same ``aad``.

        Raises:
            TerminalError: ``key_id`` is not configured, or the key/aad does not match (wrong key
                material, a tampered row, or a row moved to another owner).
        """
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            configured = ", ".join(self._ciphers) or "none"
            raise TerminalError(
                f"cannot decrypt a stored credential: it was encrypted with key id {key_id!r}, which is "
                f"missing from {KEYS_VARIABLE} (configured: {configured}); add that key back"
            )
        try:
            return cipher.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise TerminalError(
                f"cannot decrypt a stored credential with key id {key_id!r}: the key does not match "
                f"(check {KEYS_VARIABLE} holds the same key material for that id) or the stored row "
                "was altered"
            ) from None


def generate_key_spec(key_id: str) -> str:
    """Return a new ``"key_id:base64key"`` entry with 32 random bytes (for ``AUTOLOADER_SECRET_KEYS``)."""
    if not _KEY_ID.match(key_id):
        raise ValueError(f"invalid key id {key_id!r}: use 1-64 letters, digits, '_' or '-'")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def _parse_entry(position: int, entry: str) -> tuple[str, bytes]:
    key_id, sep, encoded = entry.partition(":")
    key_id = key_id.strip()
    if not sep or not _KEY_ID.match(key_id):
        raise TerminalError(
            f"{KEYS_VARIABLE}: entry {position} is not 'keyid:base64key' (key id of letters, digits, '_' or "
            "'-'); separate keys with commas, active key first"
        )
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise TerminalError(
            f"{KEYS_VARIABLE}: the key of id {key_id!r} is not valid base64; "
            "generate one with: python -c \"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\""
        ) from None
    _check_key(key_id, key)
    return key_id, key


def _check_key(key_id: str, key: bytes) -> None:
    if not _KEY_ID.match(key_id):
        raise TerminalError(f"invalid secret key id {key_id!r}: use 1-64 letters, digits, '_' or '-'")
    if len(key) != KEY_BYTES:
        raise TerminalError(
            f"{KEYS_VARIABLE}: the key of id {key_id!r} has {len(key)} bytes; AES-256 needs exactly "
            f"{KEY_BYTES} (base64 of 32 random bytes)"
        )
