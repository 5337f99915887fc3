"""derelayl.crypto: encryption round trips, tampering and wrong recipients are refused."""

import os

import pytest

from derelayl.crypto import (
    DecryptionError,
    KeyPair,
    decrypt,
    encrypt,
    new_model_key,
    open_bundle,
    open_envelope,
    seal_bundle,
    seal_key,
    weights_hash,
)
from derelayl.protocol import MAX_BUNDLE_LENGTH


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


def test_weights_box_is_secretbox_both_ways():
    """The one-pass box reads and writes exactly PyNaCl's SecretBox format (models
    pinned by earlier versions still open, and theirs open ours)."""
    import nacl.secret

    key = new_model_key()
    for plain in (b"", b"w", os.urandom(300_000)):
        assert nacl.secret.SecretBox(key).decrypt(bytes(encrypt(plain, key))) == plain
        assert decrypt(nacl.secret.SecretBox(key).encrypt(plain), key) == plain
        assert decrypt(memoryview(encrypt(plain, key)), key) == plain


def test_too_short_ciphertext_is_named():
    with pytest.raises(DecryptionError, match="39 bytes"):
        decrypt(bytes(39), new_model_key())


def test_a_bundle_holds_a_layers_keys_in_order_and_opens_only_for_its_recipient():
    alice, bob = KeyPair.generate(), KeyPair.generate()
    keys = [new_model_key() for _ in range(64)]
    bundle = seal_bundle(keys, alice.public)
    assert len(bundle) == MAX_BUNDLE_LENGTH  # a layer of 64 models: the contract's largest bundle
    assert open_bundle(bundle, alice, 64) == keys
    with pytest.raises(DecryptionError, match="not sealed to"):
        open_bundle(bundle, bob, 64)
    with pytest.raises(DecryptionError, match="holds no 3 keys"):
        open_bundle(seal_bundle(keys[:2], alice.public), alice, 3)
    with pytest.raises(ValueError, match="one or more keys of 32 bytes"):
        seal_bundle([b"short"], alice.public)
