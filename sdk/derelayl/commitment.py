"""The evaluator score commitment, exactly as RelayLearning.commitmentFor computes it."""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


def score_commitment(
    chain_id: int, contract: str, round_: int, evaluator: str, scores: Sequence[int], salt: bytes
) -> bytes:
    """keccak256(abi.encode(chainid, contract, round, evaluator, scores, salt)).

    Binding the chain, the contract, the round and the sender means a commitment can
    be neither replayed elsewhere nor copied by another evaluator.
    """
    if len(salt) != 32:
        raise ValueError(f"salt must be 32 bytes, got {len(salt)}")
    payload = encode(
        ["uint256", "address", "uint256", "address", "uint256[]", "bytes32"],
        [chain_id, to_checksum_address(contract), round_, to_checksum_address(evaluator), list(scores), salt],
    )
    return keccak(payload)
