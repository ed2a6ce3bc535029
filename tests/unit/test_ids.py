"""Ids: deterministic ids never change (stored events, run ids and Msg-Ids depend on them)."""

from __future__ import annotations

import hashlib
import random

import pytest

from autoloader_core.ids import deterministic_id, is_valid_id, new_id

# Computed with the implementation of commit aa371ca (divmod per base32 digit), before it was sped up.
KNOWN = [
    (("run", "ing_01jd2x0000000000000000", "2026-01-05T10:01:00+00:00"), "run_37rw75qwcrd1vm4t6dnb5jnp7b"),
    (("evt", "run_abc", "requested"), "evt_1907mrd6m3ysmhj53e3cc19jqw"),
    (("bat", "run_x", "3"), "bat_0crnqdeym5650rwhzcrr7w73c6"),
    (("x",), "x_73p324567w3ga9nyzms2cpze94"),
    (("evt", ""), "evt_73p324567w3ga9nyzms2cpze94"),
    (("evt", "a", "b", "c"), "evt_70vvk99bpjdms3p3cbgre38fs5"),
    (("run", "ünïcode", "€"), "run_0wrg8jg6v1a6tt8d0362kejne7"),
]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def reference_id(prefix: str, *parts: str) -> str:
    """The original algorithm, digit by digit: SHA-256 of the parts, first 128 bits, 26 base32 digits."""
    value = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:16], "big")
    digits = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        digits.append(_ALPHABET[rem])
    return f"{prefix}_{''.join(reversed(digits))}"


@pytest.mark.parametrize(("args", "expected"), KNOWN)
def test_deterministic_id_is_pinned(args: tuple[str, ...], expected: str) -> None:
    assert deterministic_id(*args) == expected
    assert is_valid_id(expected)


def test_deterministic_id_matches_the_reference_on_random_inputs() -> None:
    rng = random.Random(13)
    for _ in range(2_000):
        parts = ["".join(rng.choice("abcxyz_019:+-.é") for _ in range(rng.randrange(0, 30)))
                 for _ in range(rng.randrange(0, 4))]
        assert deterministic_id("run", *parts) == reference_id("run", *parts)


def test_new_ids_are_valid_and_distinct() -> None:
    ids = {new_id("ing") for _ in range(100)}
    assert len(ids) == 100
    assert all(is_valid_id(i) for i in ids)
