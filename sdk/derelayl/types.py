"""The data types shared by the rules in Python (`derelayl.protocol`) and the chain
client (`derelayl.client`): phases and slot outcomes numbered as in the contract, and
the records the contract's views return, with named fields."""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: A zero bytes32 (an unset hash, commitment or key).
ZERO32 = b"\x00" * 32


class Phase(enum.IntEnum):
    """Phases of a round, numbered as in the contract."""

    BIDDING = 0
    TRAINING = 1
    COMMITTING = 2
    REVEALING = 3
    SETTLED = 4


class SlotOutcome(enum.IntEnum):
    """How a slot ended at settlement, numbered as in the contract."""

    ACCEPTED = 0
    REJECTED = 1
    NO_QUORUM = 2
    NOT_SUBMITTED = 3
    UNDELIVERED = 4


@dataclass
class Slot:
    """A matched (parent model, trainer) pair of one round."""

    trainer: str
    parent_id: int
    bid: int
    price: int
    delivered: bool = False
    submitted: bool = False
    reclaimed: bool = False
    couriered: bool = False
    weights_hash: bytes = ZERO32
    cid: str = ""


@dataclass
class Model:
    """An accepted model (id 0 is genesis) with its lineage-claim cursor."""

    model_id: int
    parent_id: int
    layer: int
    index: int
    round: int
    creator: str
    slot: int
    score: int
    weights_hash: bytes
    claim_layer: int
    claim_lo: int
    claim_hi: int
    lineage_ended: bool = False
    claimed_units: int = 0


@dataclass(frozen=True)
class RoundView:
    phase: Phase
    phase_start: int
    deadline: int
    parent_layer: int
    seed: bytes
    bid_count: int
    offer_count: int
    evaluator_count: int
    slot_count: int
    submitted_count: int
    committed_count: int
    revealed_count: int
    key_deadline: int = 0  # Training: owners' keys before it (0: no window)
    courier_deadline: int = 0  # Training: couriers' keys and requests before it (0: no window)
    seed_block: int = 0  # Bidding: the block it was locked at (0: open); its hash is the seed
    stalled_rounds: int = 0  # rounds in a row before it with bids, no NoQuorum, nothing accepted


@dataclass(frozen=True)
class BidView:
    trainer: str
    amount: int


@dataclass(frozen=True)
class OfferView:
    model_id: int
    price: int


@dataclass(frozen=True)
class EvaluatorView:
    staked: bool
    committed: bool
    revealed: bool
    commitment: bytes
