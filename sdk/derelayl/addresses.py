"""Contract address prediction (CREATE), used to deploy RelayToken before RelayLearning."""

from __future__ import annotations

import rlp
from eth_utils import keccak, to_bytes, to_checksum_address


def create_address(sender: str, nonce: int) -> str:
    """The address a contract created by `sender` with transaction `nonce` will get.

    RelayToken needs its minter (the RelayLearning contract) at construction, and
    RelayLearning needs the token: deploying the token with the address the next
    deployment will receive breaks the cycle without an owner or a setter.
    """
    encoded = rlp.encode([to_bytes(hexstr=sender), nonce])
    return to_checksum_address(keccak(encoded)[12:])
