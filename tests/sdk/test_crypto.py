"""derelayl.crypto: encryption round trips, tampering and wrong recipients are refused."""

import os

import pytest

from derelayl.crypto import (
    DecryptionError,
    KeyPair,
    decrypt,
    encrypt,
    new_model_key,
    open_envelope,
    seal_key,
    weights_hash,
)


def test_weights_round_trip():
    plain = os.urandom(100_000)
    key = new_model_key()
    ciphertext = encrypt(plain, key)
    assert ciphertext != plain and len(ciphertext) == len(plain) + 40
    assert decrypt(ciphertext, key) == plain


@pytest.mark.parametrize("damage", ["flip", "truncate", "wrong_key"])
def test_damaged_weights_are_refused(damage):
    key = new_model_key()
    ciphertext = bytearray(encrypt(b"weights" * 100, key))
    if damage == "flip":
        ciphertext[60] ^= 1
    elif damage == "truncate":
        ciphertext = ciphertext[:-10]
    else:
        key = new_model_key()
    with pytest.raises(DecryptionError):
        decrypt(bytes(ciphertext), key)


def test_envelope_opens_only_for_its_recipient():
    alice, bob = KeyPair.generate(), KeyPair.generate()
    key = new_model_key()
    envelope = seal_key(key, alice.public)
    assert len(envelope) == 80  # fits the contract's 512-byte envelope limit
    assert open_envelope(envelope, alice) == key
    with pytest.raises(DecryptionError):
        open_envelope(envelope, bob)


def test_keypair_from_private_restores_public():
    pair = KeyPair.generate()
    assert KeyPair.from_private(pair.private) == pair


def test_weights_hash_is_sha256():
    assert weights_hash(b"abc").hex().startswith("ba7816bf")
