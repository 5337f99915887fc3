"""Weights encryption and key envelopes (PyNaCl; nothing home-made).

A model's weights are encrypted with a fresh 32-byte key (XSalsa20-Poly1305,
`nacl.secret.SecretBox`) before they leave the machine. The key travels in envelopes
sealed to a recipient's registered X25519 public key (`nacl.public.SealedBox`, 80
bytes for a 32-byte key), which only that recipient can open.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.exceptions
import nacl.public
import nacl.secret
import nacl.utils

from derelayl.errors import DecryptionError

KEY_SIZE = nacl.secret.SecretBox.KEY_SIZE


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


def encrypt(plain: bytes, key: bytes) -> bytes:
    """Authenticated encryption of `plain` with `key` (random nonce prepended)."""
    return bytes(nacl.secret.SecretBox(key).encrypt(plain))


def decrypt(ciphertext: bytes, key: bytes) -> bytes:
    """The plain bytes, or `DecryptionError` if anything was changed or cut."""
    try:
        return nacl.secret.SecretBox(key).decrypt(ciphertext)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise DecryptionError(f"weights do not decrypt with this key ({len(ciphertext)} bytes): {exc}") from exc


def seal_key(key: bytes, recipient_public: bytes) -> bytes:
    """An envelope holding `key` that only the owner of `recipient_public` can open."""
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(recipient_public)).encrypt(key))


def open_envelope(envelope: bytes, keypair: KeyPair) -> bytes:
    """The key inside `envelope`, or `DecryptionError` if it was not sealed to us."""
    try:
        return nacl.public.SealedBox(nacl.public.PrivateKey(keypair.private)).decrypt(envelope)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise DecryptionError(f"envelope of {len(envelope)} bytes was not sealed to {keypair.public.hex()}") from exc
