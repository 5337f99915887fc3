"""Weights encryption and key envelopes (PyNaCl; nothing home-made).

A model's weights are encrypted with a fresh 32-byte key (XSalsa20-Poly1305,
`nacl.secret.SecretBox`) before they leave the machine. The key travels in envelopes
sealed to a recipient's registered X25519 public key (`nacl.public.SealedBox`, 80
bytes for a 32-byte key), which only that recipient can open.

The weights' box is libsodium's `crypto_secretbox_easy` called in one pass over the
caller's buffer (PyNaCl's cffi binding): the same bytes as `SecretBox.encrypt`
(24-byte nonce, 16-byte MAC, ciphertext) without SecretBox's three copies of 40 MB.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.exceptions
import nacl.public
import nacl.secret
import nacl.utils
from nacl._sodium import ffi, lib

from derelayl.errors import DecryptionError

KEY_SIZE = nacl.secret.SecretBox.KEY_SIZE
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE
MAC_SIZE = nacl.secret.SecretBox.MACBYTES


@dataclass(frozen=True)
class KeyPair:
    """A participant's X25519 key pair; `public` is what it registers on chain."""

    private: bytes
    public: bytes

    @classmethod
    def generate(cls) -> "KeyPair":
        key = nacl.public.PrivateKey.generate()
        return cls(bytes(key), bytes(key.public_key))

    @classmethod
    def from_private(cls, private: bytes) -> "KeyPair":
        key = nacl.public.PrivateKey(private)
        return cls(bytes(key), bytes(key.public_key))


def weights_hash(plain: bytes) -> bytes:
    """sha256 of the plain weights, the hash recorded on chain."""
    return hashlib.sha256(plain).digest()


def new_model_key() -> bytes:
    return nacl.utils.random(KEY_SIZE)


def new_nonce() -> bytes:
    return nacl.utils.random(NONCE_SIZE)


def encrypt(plain: bytes, key: bytes, nonce: bytes | None = None) -> bytearray:
    """Authenticated encryption of `plain` with `key`: nonce, MAC, ciphertext (the
    layout of `SecretBox.encrypt`), written once into the returned buffer. The nonce
    is random unless given: a trainer keeps it to rebuild the very same ciphertext
    (and CID) from its weights on disk if a pin has to be done again. Never give one
    nonce to two different plaintexts under one key."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"a model key has {KEY_SIZE} bytes, not {len(key)}")
    nonce = new_nonce() if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"a nonce has {NONCE_SIZE} bytes, not {len(nonce)}")
    out = bytearray(NONCE_SIZE + MAC_SIZE + len(plain))
    out[:NONCE_SIZE] = nonce
    if lib.crypto_secretbox_easy(ffi.from_buffer(out) + NONCE_SIZE, ffi.from_buffer(plain), len(plain),
                                 nonce, key) != 0:
        raise RuntimeError("libsodium refused to encrypt")  # never for valid sizes
    return out


def decrypt(ciphertext: bytes, key: bytes) -> bytes:
    """The plain bytes, or `DecryptionError` if anything was changed or cut."""
    size = len(ciphertext) - NONCE_SIZE - MAC_SIZE
    if size < 0 or len(key) != KEY_SIZE:
        problem = f"{len(ciphertext)} bytes" if size < 0 else f"a key of {len(key)} bytes"
        raise DecryptionError(f"weights do not decrypt with this key ({problem}): too short for a box")
    view = memoryview(ciphertext)
    out = bytearray(size)
    if lib.crypto_secretbox_open_easy(ffi.from_buffer(out), ffi.from_buffer(view[NONCE_SIZE:]), size + MAC_SIZE,
                                      bytes(view[:NONCE_SIZE]), key) != 0:
        raise DecryptionError(f"weights do not decrypt with this key ({len(ciphertext)} bytes): "
                              "forged, damaged or wrong key")
    return bytes(out)  # safetensors reads only `bytes`


def seal_key(key: bytes, recipient_public: bytes) -> bytes:
    """An envelope holding `key` that only the owner of `recipient_public` can open."""
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(recipient_public)).encrypt(key))


def open_envelope(envelope: bytes, keypair: KeyPair) -> bytes:
    """The key inside `envelope`, or `DecryptionError` if it was not sealed to us."""
    try:
        return nacl.public.SealedBox(nacl.public.PrivateKey(keypair.private)).decrypt(envelope)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise DecryptionError(f"envelope of {len(envelope)} bytes was not sealed to {keypair.public.hex()}") from exc


def seal_bundle(keys: list[bytes], recipient_public: bytes) -> bytes:
    """A merge relay's key bundle: every key of a layer (32 bytes each, in layer order)
    in one envelope that only the owner of `recipient_public` can open. 64 keys seal
    to 2,096 bytes, MergeRelayLearning's MAX_BUNDLE_LENGTH."""
    if not keys or any(len(key) != KEY_SIZE for key in keys):
        raise ValueError(f"a bundle holds one or more keys of {KEY_SIZE} bytes, got {[len(k) for k in keys]}")
    return seal_key(b"".join(keys), recipient_public)


def open_bundle(envelope: bytes, keypair: KeyPair, count: int) -> list[bytes]:
    """The `count` keys inside a bundle sealed to us, in layer order; `DecryptionError`
    if it was not sealed to us or does not hold exactly `count` keys."""
    plain = open_envelope(envelope, keypair)
    if len(plain) != count * KEY_SIZE:
        raise DecryptionError(f"a bundle of {len(plain)} bytes holds no {count} keys of {KEY_SIZE} bytes")
    return [plain[i:i + KEY_SIZE] for i in range(0, len(plain), KEY_SIZE)]
