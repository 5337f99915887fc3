"""The DeRelayL round rules in plain Python: no chain, no ML, fast and exact.

`RelayProtocol` mirrors `contracts/RelayLearning.sol` action for action: the same
checks in the same order (raising `ProtocolRevert` with the contract's error name and
arguments), the same matching, selection, refunds, forfeits, evaluator rewards,
carry-over and lineage layers, and the same seeded tie-breaks. The contract tests use
it as their model of the expected state; the simulator plays the paper's study on it.

Token accounting follows the contract: deposits are paid from credit first, then from
the wallet; refunds and rewards become credit; forfeits are burned. Invariant:
``contract_balance == locked + sum(credit)``.

With `merge_horizon` above 0 the class plays the **merge relay** of docs/merge.md
(on chain: `contracts/MergeRelayLearning.sol`): a trainer starts from a merge of every model of the parent layer,
so there are no offers and no prices; the slots are the highest bids, up to k per
model of the layer; a key holder of the layer (an evaluator of the round that
accepted it, or the creator of a layer's only model) delivers each trainer one
bundle of the layer's keys (`deliver_bundle`); acceptance has no parent-relative
floor; and lineage rewards follow `derelayl.merge_lineage.MergeLineage`: each
accepted model pays one `lineage_reward` to each of the `merge_horizon` layers
before it, shared equally by that layer's models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import keccak

from derelayl.commitment import score_commitment
from derelayl.errors import ConfigurationError, ProtocolRevert
from derelayl.merge_lineage import MergeLineage
from derelayl.params import MAX_AMOUNT, MAX_TRAINERS_CAP, SCORE_SCALE, ProtocolParams
from derelayl.types import ZERO32, Model, Phase, Slot, SlotOutcome

MAX_CID_LENGTH = 128
MAX_ENVELOPE_LENGTH = 512
#: A merge relay's key bundle: up to MAX_TRAINERS_CAP keys of 32 bytes, sealed (a
#: sealed box adds 48 bytes), as MergeRelayLearning.MAX_BUNDLE_LENGTH.
MAX_BUNDLE_LENGTH = MAX_TRAINERS_CAP * 32 + 48
ZERO_ADDRESS = "0x" + "00" * 20
#: Quarters of Training in which an owner's key (2: the first half), and a courier's
#: key or a request for one (3), are taken, as in the contract.
OWNER_KEY_QUARTERS = 2
COURIER_KEY_QUARTERS = 3


@dataclass
class EvaluatorRecord:
    """One evaluator's commit-reveal state in a round."""

    index: int
    committed: bool = False
    revealed: bool = False
    commitment: bytes = ZERO32
    scores: list[int] = field(default_factory=list)


@dataclass
class RoundState:
    """Everything the contract keeps about one round."""

    number: int
    parent_layer: int
    phase: Phase = Phase.BIDDING
    phase_start: int = 0
    seed: bytes = ZERO32
    seed_block: int = 0  # the block Bidding was locked at (0: open)
    bids: list[tuple[str, int]] = field(default_factory=list)
    bid_index: dict[str, int] = field(default_factory=dict)
    offers: list[tuple[int, int]] = field(default_factory=list)
    offered: set[int] = field(default_factory=set)
    evaluators: list[str] = field(default_factory=list)  # the pool; from the close, the drawn
    records: dict[str, EvaluatorRecord] = field(default_factory=dict)  # of `evaluators`
    undrawn: set[str] = field(default_factory=set)  # stakers left out who have not reclaimed
    slots: list[Slot] = field(default_factory=list)
    trainer_slots: dict[str, int] = field(default_factory=dict)
    submitted_count: int = 0
    committed_count: int = 0
    revealed_count: int = 0
    stalled_rounds: int = 0  # rounds in a row before this one that stalled (see settle)
    # The round before: its parent layer (-1: none) and the models offered in it. A
    # courier may offer a model of the same layer that nobody offered then.
    layer_before: int = -1
    offered_before: frozenset[int] = frozenset()


@dataclass
class Settlement:
    """What `settle` decided, for callers that report or simulate."""

    round: int
    outcomes: dict[int, tuple[SlotOutcome, int]]
    accepted_models: list[int]
    evaluator_rewards: dict[str, tuple[int, int, int]]
    carried_over: bool


def seeded_key(seed: bytes, label: str, abi_type: str, value) -> int:
    """keccak256(abi.encode(seed, label, value)) as an integer: the contract's seeded
    tie-breaks and evaluator draw."""
    return int.from_bytes(keccak(encode(["bytes32", "string", abi_type], [seed, label, value])), "big")


def offer_tie_key(seed: bytes, model_id: int) -> int:
    """keccak256(abi.encode(seed, "offer", modelId)) as the contract computes it."""
    return seeded_key(seed, "offer", "uint64", model_id)


def bid_tie_key(seed: bytes, trainer: str) -> int:
    """keccak256(abi.encode(seed, "bid", trainer))."""
    return seeded_key(seed, "bid", "address", trainer)


def slot_tie_key(seed: bytes, slot: int) -> int:
    """keccak256(abi.encode(seed, "slot", slot))."""
    return seeded_key(seed, "slot", "uint256", slot)


def draw_evaluators(pool: Sequence[str], seats: int, seed: bytes) -> list[str]:
    """The contract's draw: `pool` shuffled by a partial Fisher-Yates with `seed`; the
    first `seats` are drawn, in envelope order. A pool no larger than `seats` is kept
    as it is."""
    order = list(pool)
    if len(order) <= seats:
        return order
    for i in range(seats):
        j = i + seeded_key(seed, "evaluator", "uint256", i) % (len(order) - i)  # the evaluator of seat i
        order[i], order[j] = order[j], order[i]
    return order


def order_descending(primary: Sequence[int], tie: Sequence[int]) -> list[int]:
    """Indices ordered by (primary, tie) descending, stable: Ranking.orderDescending."""
    return sorted(range(len(primary)), key=lambda i: (-primary[i], -tie[i]))


def median(values: Sequence[int]) -> int:
    """Ranking.median: the middle value, or the floor of the two middle ones' mean."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2 == 1:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2


class RelayProtocol:
    """One learning task's state, changed by the same actions as the contract.

    Parameters
    ----------
    params:
        The deployment parameters.
    genesis_owner, genesis_hash, genesis_cid:
        The genesis model.
    allocations:
        Genesis credit per address.
    chain_id, contract:
        What score commitments are bound to (see `derelayl.commitment`).
    tie_keys:
        The three tie-break functions; the simulator may pass cheaper random ones.
    commitment:
        The score-commitment function (default: the contract's keccak of the ABI
        encoding, `derelayl.commitment.score_commitment`); the simulator, which has no
        chain to agree with, may pass a cheaper binding hash.
    merge_horizon:
        0 (the default): the paper's relay, as the contract plays it. Above 0: the
        merge relay (see the module's docstring), whose models earn lineage rewards
        from this many layers after their own.
    """

    def __init__(
        self,
        params: ProtocolParams,
        genesis_owner: str,
        genesis_hash: bytes = b"\x01" * 32,
        genesis_cid: str = "genesis",
        allocations: dict[str, int] | None = None,
        *,
        chain_id: int = 0,
        contract: str = "0x" + "00" * 20,
        now: int = 0,
        tie_keys: tuple[Callable[[bytes, int], int], Callable[[bytes, str], int], Callable[[bytes, int], int]]
        | None = None,
        commitment: Callable[[int, str, int, str, Sequence[int], bytes], bytes] = score_commitment,
        merge_horizon: int = 0,
    ) -> None:
        if merge_horizon < 0:
            raise ConfigurationError(f"merge_horizon must be 0 (the plain relay) or more, got {merge_horizon}")
        self.params = params
        #: The merge relay's lineage ledger (None: the plain relay).
        self.merge_lineage = MergeLineage(params.lineage_reward, merge_horizon) if merge_horizon else None
        self.chain_id = chain_id
        self.contract = contract
        self.now = now
        self._offer_tie, self._bid_tie, self._slot_tie = tie_keys or (offer_tie_key, bid_tie_key, slot_tie_key)
        self.genesis_cid = genesis_cid
        self._commitment = commitment

        self.public_keys: dict[str, bytes] = {}
        self.credit: dict[str, int] = {}
        self.wallet: dict[str, int] = {}
        self.earned: dict[str, int] = {}  # allocations, rewards and remedies received
        self.paid_in: dict[str, int] = {}  # wallet tokens each account deposited
        # Per account: its own deposits and stakes locked now, those the rules burned,
        # and the slot deposits it paid to trainers as an MO that never delivered.
        self.deposited: dict[str, int] = {}
        self.forfeited: dict[str, int] = {}
        self.remedies_paid: dict[str, int] = {}
        self.locked = 0
        self.total_supply = 0
        self.burned = 0
        self.minted = 0

        self.models: list[Model] = [
            Model(0, 0, 0, 0, 0, genesis_owner, 0, 0, genesis_hash, 0, 0, 1)
        ]
        self.layers: list[list[int]] = [[0]]
        self.child_start: dict[int, list[int]] = {}
        self.owner_models: dict[int, dict[str, int]] = {0: {genesis_owner: 0}}
        # Layers a fallback appended: the layer whose models each offers again.
        self.layer_sources: dict[int, int] = {}
        # Everyone who ever created an accepted model (genesis included): never an evaluator.
        self.creators: set[str] = {genesis_owner}
        # Per round, its drawn evaluators: every model accepted in the round had its key
        # sealed to them, so they may courier it (kept when a round is forgotten).
        self.key_holders: dict[int, frozenset[str]] = {}

        for holder, amount in (allocations or {}).items():
            if holder == ZERO_ADDRESS:  # credit of address(0) could never be withdrawn
                raise ProtocolRevert("RelayInvalidParameter", "holder")
            self._mint_credit(holder, amount)
        self.round = 0
        self.rounds: dict[int, RoundState] = {0: RoundState(0, 0, Phase.BIDDING, now)}

    # ------------------------------------------------------------ accounting

    @property
    def contract_balance(self) -> int:
        """Tokens the contract holds: locked deposits and stakes plus all credit."""
        return self.locked + sum(self.credit.values())

    def _check_collect(self, account: str, amount: int) -> None:
        """Raises what the token would if `amount` cannot be locked from `account`."""
        from_wallet = amount - min(self.credit.get(account, 0), amount)
        balance = self.wallet.get(account, 0)
        if from_wallet > balance:
            raise ProtocolRevert("ERC20InsufficientBalance", account, balance, from_wallet)

    def _collect(self, account: str, amount: int) -> None:
        if amount == 0:
            return
        self._check_collect(account, amount)
        credit = self.credit.get(account, 0)
        from_credit = min(credit, amount)
        from_wallet = amount - from_credit
        balance = self.wallet.get(account, 0)
        self.credit[account] = credit - from_credit
        self.wallet[account] = balance - from_wallet
        self.paid_in[account] = self.paid_in.get(account, 0) + from_wallet
        self.locked += amount
        self.deposited[account] = self.deposited.get(account, 0) + amount

    def _release(self, account: str, amount: int, depositor: str | None = None) -> None:
        """Credits `account` with `amount` of the deposit `depositor` (default: the
        account itself) locked."""
        if amount == 0:
            return
        depositor = depositor or account
        self.locked -= amount
        self.deposited[depositor] -= amount
        self.credit[account] = self.credit.get(account, 0) + amount

    def _pay_remedy(self, s: Slot, owner: str) -> None:
        """An MO that never delivered pays its slot deposit to the trainer, whose bid
        comes back too."""
        self._release(s.trainer, s.bid)
        self._pay_price_to_trainer(s, owner)

    def _pay_price_to_trainer(self, s: Slot, owner: str) -> None:
        self._release(s.trainer, s.price, depositor=owner)
        self.earned[s.trainer] = self.earned.get(s.trainer, 0) + s.price
        self.remedies_paid[owner] = self.remedies_paid.get(owner, 0) + s.price

    def _settle_price(self, s: Slot, owner: str, returned: bool) -> None:
        """Returns the MO's deposit for a submitted slot, or burns it; an MO that never
        delivered the key (a courier did) pays it to the trainer whatever the outcome."""
        if not s.delivered:
            self._pay_price_to_trainer(s, owner)
        elif returned:
            self._release(owner, s.price)
        else:
            self._forfeit(owner, s.price)

    def _forfeit(self, account: str, amount: int) -> None:
        """Burns `amount` of `account`'s locked deposit."""
        if amount == 0:
            return
        self.locked -= amount
        self.deposited[account] -= amount
        self.forfeited[account] = self.forfeited.get(account, 0) + amount
        self.total_supply -= amount
        self.burned += amount

    def _mint_credit(self, account: str, amount: int) -> None:
        if amount == 0:
            return
        self.credit[account] = self.credit.get(account, 0) + amount
        self.earned[account] = self.earned.get(account, 0) + amount
        self.total_supply += amount
        self.minted += amount

    # --------------------------------------------------------------- checks

    def _require_phase(self, round_: int, phase: Phase) -> RoundState:
        if round_ != self.round:
            raise ProtocolRevert("RelayWrongRound", self.round, round_)
        rs = self.rounds[round_]
        if rs.phase != phase:
            raise ProtocolRevert("RelayWrongPhase", int(phase), int(rs.phase))
        return rs

    def _duration(self, phase: Phase) -> int:
        p = self.params
        return {
            Phase.BIDDING: p.bidding_duration,
            Phase.TRAINING: p.training_duration,
            Phase.COMMITTING: p.commit_duration,
            Phase.REVEALING: p.reveal_duration,
        }.get(phase, 0)

    def deadline(self, rs: RoundState) -> int:
        """When the round's current phase may be closed by anyone."""
        return rs.phase_start + self._duration(rs.phase)

    def _require_open_bidding(self, round_: int) -> RoundState:
        """The round's Bidding phase, not yet locked by closeBidding's first step."""
        rs = self._require_phase(round_, Phase.BIDDING)
        if rs.seed_block:
            raise ProtocolRevert("RelayBiddingLocked", round_, rs.seed_block)
        return rs

    def _require_closable(self, rs: RoundState, everyone_acted: bool) -> None:
        if not everyone_acted and self.now < self.deadline(rs):
            raise ProtocolRevert("RelayPhaseNotOver", int(rs.phase), self.deadline(rs))

    def key_holders_of(self, model_id: int) -> list[str]:
        """Who may courier model `model_id`: the drawn evaluators of the round that
        accepted it, sorted (nobody for genesis)."""
        return sorted(self.key_holders.get(self.models[model_id].round, ())) if model_id else []

    def _require_key_holder(self, model_id: int, account: str) -> None:
        if account not in self.key_holders_of(model_id):
            raise ProtocolRevert("RelayNotKeyHolder", model_id, account)

    @property
    def merging(self) -> bool:
        """Whether this is a merge relay (`merge_horizon` above 0)."""
        return self.merge_lineage is not None

    def _require_plain(self, action: str) -> None:
        if self.merging:
            raise ProtocolRevert("RelayPlainRelayOnly", action)

    def _require_merging(self, action: str) -> None:
        if not self.merging:
            raise ProtocolRevert("RelayMergeRelayOnly", action)

    def bundle_holders(self, layer: int) -> list[str]:
        """Who may deliver the key bundle of `layer`'s models in a merge relay: the
        drawn evaluators of the round that accepted them (every model of a layer was
        accepted in one round, and its key sealed to them), and the creator of a
        layer's only model (the genesis), sorted."""
        models = self.layer_of(layer)
        holders = set(self.key_holders_of(models[0]))
        if len(models) == 1:
            holders.add(self.models[models[0]].creator)
        return sorted(holders)

    def _require_key(self, account: str) -> None:
        if not self.public_keys.get(account):
            raise ProtocolRevert("RelayKeyNotRegistered", account)

    def _slot(self, round_: int, slot: int) -> Slot:
        slots = self.rounds[round_].slots if round_ in self.rounds else []
        if slot >= len(slots):
            raise ProtocolRevert("RelayUnknownSlot", round_, slot, len(slots))
        return slots[slot]

    def _record(self, rs: RoundState, account: str) -> EvaluatorRecord:
        record = rs.records.get(account)
        if record is None:
            raise ProtocolRevert("RelayNotEvaluator", rs.number, account)
        return record

    @staticmethod
    def _check_cid(cid: str) -> None:
        length = len(cid.encode())
        if length == 0:
            raise ProtocolRevert("RelayEmptyCid")
        if length > MAX_CID_LENGTH:
            raise ProtocolRevert("RelayCidTooLong", length, MAX_CID_LENGTH)

    @staticmethod
    def _check_envelope(envelope: bytes, limit: int = MAX_ENVELOPE_LENGTH) -> None:
        if len(envelope) == 0:
            raise ProtocolRevert("RelayEmptyEnvelope")
        if len(envelope) > limit:
            raise ProtocolRevert("RelayEnvelopeTooLong", len(envelope), limit)

    def current_model_of(self, account: str) -> int | None:
        """The model `account` owns in the current parent layer, if any."""
        return self.owner_models.get(self.model_layer(self.rounds[self.round].parent_layer), {}).get(account)

    def model_layer(self, layer: int) -> int:
        """The layer whose models `layer` holds: itself, or the one a fallback offers again."""
        return self.layer_sources.get(layer, layer)

    def layer_of(self, layer: int) -> list[int]:
        """The model ids of `layer` (for a fallback layer, those of its source)."""
        return self.layers[self.model_layer(layer)]

    # ---------------------------------------------------------- participate

    def register_key(self, account: str, public_key: bytes) -> None:
        if public_key == ZERO32:
            raise ProtocolRevert("RelayZeroKey")
        self.public_keys[account] = public_key

    def bid(self, account: str, round_: int, amount: int) -> None:
        rs = self._require_open_bidding(round_)
        if amount > MAX_AMOUNT:
            raise ProtocolRevert("RelayAmountTooLarge", amount, MAX_AMOUNT)
        self._require_key(account)
        if account in rs.bid_index:
            raise ProtocolRevert("RelayAlreadyBid", round_, account)
        if account in self.owner_models.get(self.model_layer(rs.parent_layer), {}):
            raise ProtocolRevert("RelayOwnerCannotBid", round_, account)
        if account in rs.records:
            raise ProtocolRevert("RelayEvaluatorCannotBid", round_, account)

        evicted: tuple[str, int] | None = None
        full = len(rs.bids) >= self.params.max_trainers
        if full:
            lowest = 0
            for i in range(1, len(rs.bids)):
                if rs.bids[i][1] <= rs.bids[lowest][1]:
                    lowest = i
            if amount <= rs.bids[lowest][1]:
                raise ProtocolRevert("RelayBidTooLow", amount, rs.bids[lowest][1])
        self._check_collect(account, amount)
        if not full:
            rs.bids.append((account, amount))
            rs.bid_index[account] = len(rs.bids) - 1
        else:
            evicted = rs.bids[lowest]
            rs.bids[lowest] = (account, amount)
            del rs.bid_index[evicted[0]]
            rs.bid_index[account] = lowest
            self._release(*evicted)
        self._collect(account, amount)

    def offer(self, account: str, round_: int, price: int) -> None:
        self._require_plain("offer")
        rs = self._require_open_bidding(round_)
        if price > MAX_AMOUNT:
            raise ProtocolRevert("RelayAmountTooLarge", price, MAX_AMOUNT)
        if price < self.params.min_price:
            raise ProtocolRevert("RelayPriceTooLow", price, self.params.min_price)
        model_id = self.owner_models.get(self.model_layer(rs.parent_layer), {}).get(account)
        if model_id is None:
            raise ProtocolRevert("RelayNotModelOwner", round_, account)
        if model_id in rs.offered:
            raise ProtocolRevert("RelayAlreadyOffered", round_, model_id)
        self._collect(account, price * self.params.k)
        rs.offered.add(model_id)
        rs.offers.append((model_id, price))

    def courier_offer(self, account: str, round_: int, model_id: int) -> None:
        self._require_plain("courierOffer")
        rs = self._require_open_bidding(round_)
        if model_id >= len(self.models) or self.models[model_id].layer != self.model_layer(rs.parent_layer):
            raise ProtocolRevert("RelayNotParentModel", round_, model_id)
        if not self.may_courier_offer(rs, model_id):
            raise ProtocolRevert("RelayOwnersStillActive", round_)
        self._require_key_holder(model_id, account)
        if model_id in rs.offered:
            raise ProtocolRevert("RelayAlreadyOffered", round_, model_id)
        rs.offered.add(model_id)
        rs.offers.append((model_id, 0))

    @staticmethod
    def may_courier_offer(rs: RoundState, model_id: int) -> bool:
        """Whether couriers may offer `model_id` in round `rs` (as far as its owner is
        concerned): the round before had the same parent layer and did not offer it."""
        return rs.number > 0 and rs.layer_before == rs.parent_layer and model_id not in rs.offered_before

    def stake_evaluator(self, account: str, round_: int) -> None:
        rs = self._require_open_bidding(round_)
        self._require_key(account)
        if account in rs.records:
            raise ProtocolRevert("RelayAlreadyEvaluator", round_, account)
        if account in rs.bid_index or account in self.creators:
            raise ProtocolRevert("RelayParticipantCannotEvaluate", round_, account)
        self._collect(account, self.params.evaluator_stake)
        rs.evaluators.append(account)
        rs.records[account] = EvaluatorRecord(index=len(rs.evaluators) - 1)

    def lock_bidding(self, block: int = 1) -> None:
        """closeBidding's first step: only at the deadline (a full list of free bids
        must not let anyone close early), locks the round at `block`, whose hash will
        be the seed: no more bids, offers or stakes."""
        rs = self._require_phase(self.round, Phase.BIDDING)
        if rs.seed_block:
            raise ValueError(f"round {rs.number} is locked already: close_bidding(seed) draws")
        self._require_closable(rs, False)
        rs.seed_block = block

    def close_bidding(self, seed: bytes) -> int:
        """closeBidding's second step: matches trainers to MOs with the tie-break `seed`
        (the contract's, from the hash of the lock's block, is in the BiddingClosed
        event). Locks first if the round is not locked yet (callers without a chain, such
        as the simulator, take both steps at once). Returns the number of slots."""
        rs = self._require_phase(self.round, Phase.BIDDING)
        if not rs.seed_block:
            self.lock_bidding()
        rs.seed = seed
        self._draw_evaluators(rs)
        self._match(rs)
        self._start_phase(rs, Phase.TRAINING)
        self._advance_while_done(rs)
        return len(rs.slots)

    def _draw_evaluators(self, rs: RoundState) -> None:
        """Seats `max_evaluators` of the pool by lot; the others may reclaim their stakes."""
        seats = self.params.max_evaluators
        order = draw_evaluators(rs.evaluators, seats, rs.seed)
        for account in order[seats:]:
            del rs.records[account]
            rs.undrawn.add(account)
        rs.evaluators = order[:seats]
        for index, account in enumerate(rs.evaluators):
            rs.records[account].index = index
        self.key_holders[rs.number] = frozenset(rs.evaluators)

    def _match(self, rs: RoundState) -> None:
        if self.merging:
            self._match_merge(rs)
            return
        seed = rs.seed
        offer_order = order_descending(
            [self.models[m].score for m, _ in rs.offers], [self._offer_tie(seed, m) for m, _ in rs.offers]
        )
        bid_order = order_descending(
            [amount for _, amount in rs.bids], [self._bid_tie(seed, t) for t, _ in rs.bids]
        )
        k = self.params.k
        next_bid = 0
        for o in offer_order:
            model_id, price = rs.offers[o]
            served = 0
            while served < k and next_bid < len(bid_order):
                trainer, amount = rs.bids[bid_order[next_bid]]
                rs.slots.append(Slot(trainer, model_id, amount, price))
                rs.trainer_slots[trainer] = len(rs.slots) - 1
                served += 1
                next_bid += 1
            self._release(self.models[model_id].creator, (k - served) * price)
        for b in bid_order[next_bid:]:
            self._release(*rs.bids[b])

    def _match_merge(self, rs: RoundState) -> None:
        """Merge relay: the highest bids take a slot each, up to k per model of the
        parent layer; every slot starts from the whole layer (its `parent_id` names the
        layer's first model) at no price."""
        bid_order = order_descending(
            [amount for _, amount in rs.bids], [self._bid_tie(rs.seed, t) for t, _ in rs.bids]
        )
        parents = self.layer_of(rs.parent_layer)
        capacity = self.params.k * len(parents)
        for b in bid_order[:capacity]:
            trainer, amount = rs.bids[b]
            rs.slots.append(Slot(trainer, parents[0], amount, 0))
            rs.trainer_slots[trainer] = len(rs.slots) - 1
        for b in bid_order[capacity:]:
            self._release(*rs.bids[b])

    def deliver_key(self, account: str, round_: int, slot: int, envelope: bytes) -> None:
        self._require_plain("deliverKey")
        rs = self._require_phase(round_, Phase.TRAINING)
        s = self._slot(round_, slot)
        if self.models[s.parent_id].creator != account:
            raise ProtocolRevert("RelayNotSlotOwner", round_, slot, account)
        if s.delivered:
            raise ProtocolRevert("RelayKeyAlreadyDelivered", round_, slot)
        self._require_key_window(rs, slot, OWNER_KEY_QUARTERS)
        self._check_envelope(envelope)
        s.delivered = True

    def courier_key(self, account: str, round_: int, slot: int, envelope: bytes) -> None:
        self._require_plain("courierKey")
        rs = self._require_phase(round_, Phase.TRAINING)
        s = self._slot(round_, slot)
        self._require_key_holder(s.parent_id, account)
        if s.submitted:
            raise ProtocolRevert("RelayAlreadySubmitted", round_, slot)
        self._require_key_window(rs, slot, COURIER_KEY_QUARTERS)
        self._check_envelope(envelope)
        s.couriered = True

    def deliver_bundle(self, account: str, round_: int, slot: int, envelope: bytes) -> None:
        """Merge relay: a holder of the parent layer's keys (`bundle_holders`) delivers
        the trainer of `slot` one envelope holding all of them. Again after a
        `request_key` (the bundle did not open every model), by the same holder or
        another, until the slot is submitted or the courier window closes."""
        self._require_merging("deliverBundle")
        rs = self._require_phase(round_, Phase.TRAINING)
        s = self._slot(round_, slot)
        if account not in self.bundle_holders(rs.parent_layer):
            raise ProtocolRevert("RelayNotKeyHolder", s.parent_id, account)
        if s.submitted:
            raise ProtocolRevert("RelayAlreadySubmitted", round_, slot)
        self._require_key_window(rs, slot, COURIER_KEY_QUARTERS)
        self._check_envelope(envelope, MAX_BUNDLE_LENGTH)
        s.delivered = True

    def request_key(self, account: str, round_: int, slot: int) -> None:
        """The trainer asks for a courier (the key it got does not open the parent):
        only checks, as on chain; the request changes no state."""
        rs = self._require_phase(round_, Phase.TRAINING)
        s = self._slot(round_, slot)
        if s.trainer != account:
            raise ProtocolRevert("RelayNotSlotTrainer", round_, slot, account)
        if s.submitted:
            raise ProtocolRevert("RelayAlreadySubmitted", round_, slot)
        self._require_key_window(rs, slot, COURIER_KEY_QUARTERS)

    def key_window(self, rs: RoundState, quarters: int) -> int | None:
        """When the Training key window of `quarters` quarters closes (None: no window,
        training duration 0)."""
        window = self.params.training_duration
        return rs.phase_start + window * quarters // 4 if window else None

    def _require_key_window(self, rs: RoundState, slot: int, quarters: int) -> None:
        deadline = self.key_window(rs, quarters)
        if deadline is not None and self.now >= deadline:
            raise ProtocolRevert("RelayKeyWindowClosed", rs.number, slot, deadline)

    def submit(
        self, account: str, round_: int, slot: int, weights_hash: bytes, cid: str, envelopes: Sequence[bytes]
    ) -> None:
        rs = self._require_phase(round_, Phase.TRAINING)
        s = self._slot(round_, slot)
        if s.trainer != account:
            raise ProtocolRevert("RelayNotSlotTrainer", round_, slot, account)
        if not s.delivered and not s.couriered:
            raise ProtocolRevert("RelayKeyNotDelivered", round_, slot)
        if s.submitted:
            raise ProtocolRevert("RelayAlreadySubmitted", round_, slot)
        if weights_hash == ZERO32:
            raise ProtocolRevert("RelayZeroHash")
        if not self.merging and weights_hash == self.models[s.parent_id].weights_hash:
            raise ProtocolRevert("RelayUnchangedWeights", round_, slot, s.parent_id)
        self._check_cid(cid)
        if len(envelopes) != len(rs.evaluators):
            raise ProtocolRevert("RelayEnvelopeCount", len(envelopes), len(rs.evaluators))
        for envelope in envelopes:
            self._check_envelope(envelope)
        s.submitted = True
        s.weights_hash = weights_hash
        s.cid = cid
        rs.submitted_count += 1
        self._advance_while_done(rs)

    def close_training(self) -> None:
        rs = self._require_phase(self.round, Phase.TRAINING)
        self._require_closable(rs, rs.submitted_count == len(rs.slots))
        self._start_phase(rs, Phase.COMMITTING)
        self._advance_while_done(rs)

    def reclaim_stake(self, account: str, round_: int) -> None:
        if round_ > self.round:
            raise ProtocolRevert("RelayWrongRound", self.round, round_)
        rs = self.rounds[round_]
        if rs.phase == Phase.BIDDING:
            raise ProtocolRevert("RelayWrongPhase", int(Phase.TRAINING), int(rs.phase))
        if account in rs.records:
            raise ProtocolRevert("RelayEvaluatorDrawn", round_, account)
        if account not in rs.undrawn:
            raise ProtocolRevert("RelayNotEvaluator", round_, account)
        rs.undrawn.remove(account)
        self._release(account, self.params.evaluator_stake)

    def reclaim_undelivered(self, account: str, round_: int, slot: int) -> None:
        if round_ > self.round:
            raise ProtocolRevert("RelayWrongRound", self.round, round_)
        phase = self.rounds[round_].phase
        if phase in (Phase.BIDDING, Phase.TRAINING):
            raise ProtocolRevert("RelayWrongPhase", int(Phase.COMMITTING), int(phase))
        s = self._slot(round_, slot)
        if s.trainer != account:
            raise ProtocolRevert("RelayNotSlotTrainer", round_, slot, account)
        if s.delivered:
            raise ProtocolRevert("RelayKeyAlreadyDelivered", round_, slot)
        if s.submitted:
            raise ProtocolRevert("RelayAlreadySubmitted", round_, slot)
        if s.reclaimed:
            raise ProtocolRevert("RelayAlreadyReclaimed", round_, slot)
        s.reclaimed = True
        self._pay_remedy(s, self.models[s.parent_id].creator)

    def commitment_for(self, round_: int, evaluator: str, scores: Sequence[int], salt: bytes) -> bytes:
        """The commitment `evaluator` must send (see `derelayl.commitment`)."""
        return self._commitment(self.chain_id, self.contract, round_, evaluator, scores, salt)

    def commit(self, account: str, round_: int, commitment: bytes) -> None:
        rs = self._require_phase(round_, Phase.COMMITTING)
        record = self._record(rs, account)
        if record.committed:
            raise ProtocolRevert("RelayAlreadyCommitted", round_, account)
        if commitment == ZERO32:
            raise ProtocolRevert("RelayZeroHash")
        record.committed = True
        record.commitment = commitment
        rs.committed_count += 1
        self._advance_while_done(rs)

    def close_commit(self) -> None:
        rs = self._require_phase(self.round, Phase.COMMITTING)
        self._require_closable(rs, rs.committed_count == len(rs.evaluators))
        self._start_phase(rs, Phase.REVEALING)

    def reveal(self, account: str, round_: int, scores: Sequence[int], salt: bytes) -> None:
        rs = self._require_phase(round_, Phase.REVEALING)
        record = self._record(rs, account)
        if not record.committed:
            raise ProtocolRevert("RelayNotCommitted", round_, account)
        if record.revealed:
            raise ProtocolRevert("RelayAlreadyRevealed", round_, account)
        if len(scores) != len(rs.slots):
            raise ProtocolRevert("RelayScoresLength", len(scores), len(rs.slots))
        if self.commitment_for(round_, account, scores, salt) != record.commitment:
            raise ProtocolRevert("RelayRevealMismatch", round_, account)
        for i, score in enumerate(scores):
            if score > SCORE_SCALE:
                raise ProtocolRevert("RelayScoreTooLarge", i, score, SCORE_SCALE)
        record.scores = list(scores)
        record.revealed = True
        rs.revealed_count += 1

    def settle(self) -> Settlement:
        rs = self._require_phase(self.round, Phase.REVEALING)
        self._require_closable(rs, rs.revealed_count == rs.committed_count)
        p = self.params
        outcomes: dict[int, tuple[SlotOutcome, int]] = {}
        revealed = [rs.records[e].scores if rs.records[e].revealed else [] for e in rs.evaluators]

        medians: dict[int, int] = {}
        for i, s in enumerate(rs.slots):
            owner = self.models[s.parent_id].creator
            if not s.delivered and not s.submitted:
                if not s.reclaimed:
                    s.reclaimed = True
                    self._pay_remedy(s, owner)
                outcomes[i] = (SlotOutcome.UNDELIVERED, 0)
            elif not s.submitted:
                self._forfeit(s.trainer, s.bid)
                self._release(owner, s.price)
                outcomes[i] = (SlotOutcome.NOT_SUBMITTED, 0)
            else:
                values = [scores[i] for scores in revealed if scores]
                if len(values) < p.quorum:
                    self._release(s.trainer, s.bid)
                    self._settle_price(s, owner, returned=True)
                    outcomes[i] = (SlotOutcome.NO_QUORUM, 0)
                else:
                    medians[i] = median(values)

        candidates = sorted(medians)
        order = order_descending(
            [medians[i] for i in candidates], [self._slot_tie(rs.seed, i) for i in candidates]
        )
        ranked = [candidates[j] for j in order]
        accept_count = len(ranked) * p.selection_permille // 1000
        if accept_count == 0 and ranked:
            accept_count = 1
        # In the top fraction and at or above the floor: garbage is never accepted.
        accepted = [i for i in ranked[:accept_count] if medians[i] >= self.floor_of(rs.slots[i])]
        for i in ranked:
            s = rs.slots[i]
            owner = self.models[s.parent_id].creator
            if i in accepted:
                self._release(s.trainer, s.bid)
                outcomes[i] = (SlotOutcome.ACCEPTED, medians[i])
            else:
                self._forfeit(s.trainer, s.bid)
                outcomes[i] = (SlotOutcome.REJECTED, medians[i])
            self._settle_price(s, owner, returned=i in accepted)

        evaluator_rewards: dict[str, tuple[int, int, int]] = {}
        for e, evaluator in enumerate(rs.evaluators):
            agreed = 0
            penalty = 0
            if revealed[e]:
                agreed = sum(1 for i, m in medians.items() if abs(revealed[e][i] - m) <= p.score_tolerance)
            elif rs.submitted_count > 0:
                penalty = p.evaluator_stake * p.evaluator_penalty_permille // 1000
            reward = agreed * p.evaluator_reward
            self._forfeit(evaluator, penalty)
            self._release(evaluator, p.evaluator_stake - penalty)
            self._mint_credit(evaluator, reward)
            evaluator_rewards[evaluator] = (agreed, reward, penalty)

        accepted_models: list[int] = []
        next_parent = rs.parent_layer
        stalled = 0
        if accepted:
            next_parent, accepted_models = self._append_layer(rs, accepted, medians)
        elif p.fallback_rounds > 0:
            # Counts when trainers bid and every submission could be judged (no NoQuorum).
            stalled = rs.stalled_rounds + (1 if rs.bids and rs.submitted_count == len(medians) else 0)
            if stalled >= p.fallback_rounds:
                next_parent = self._fall_back(rs.parent_layer)
                stalled = p.fallback_rounds if next_parent == rs.parent_layer else 0
        rs.phase = Phase.SETTLED
        self.round += 1
        self.rounds[self.round] = RoundState(self.round, next_parent, Phase.BIDDING, self.now,
                                             stalled_rounds=stalled, layer_before=rs.parent_layer,
                                             offered_before=frozenset(rs.offered))
        return Settlement(rs.number, outcomes, accepted_models, evaluator_rewards, not accepted)

    def floor_of(self, s: Slot) -> int:
        """The lowest median at which the model of slot `s` may be accepted: the task's
        floor, or its parent's score less the margin if that is higher."""
        p = self.params
        if self.merging:  # no single parent to be measured against
            return p.score_floor
        return max(p.score_floor, self.models[s.parent_id].score - p.floor_margin, 0)

    def _fall_back(self, frontier: int) -> int:
        """Appends a layer offering again the models of the parent layer of `frontier`'s
        models and returns it (`frontier` itself when its models are the genesis). The
        frontier gets no child_start: its models' lineage ends there."""
        own = self.model_layer(frontier)
        if own == 0:
            return frontier
        if self.merge_lineage is not None:
            self.merge_lineage.fall_back(own)
        layer = len(self.layers)
        self.layer_sources[layer] = self.model_layer(own - 1)
        self.layers.append([])  # its models are its source's (layer_of)
        return layer

    def _append_layer(self, rs: RoundState, accepted: list[int], medians: dict[int, int]) -> tuple[int, list[int]]:
        if self.merge_lineage is not None:  # in slot order; no per-parent child ranges
            self.merge_lineage.settle(len(accepted))
            return self._add_models(rs, sorted(accepted), medians)
        parents = self.layer_of(rs.parent_layer)
        start = [0] * (len(parents) + 1)
        for i in accepted:
            start[self.models[rs.slots[i].parent_id].index + 1] += 1
        for p in range(1, len(parents) + 1):
            start[p] += start[p - 1]
        self.child_start[rs.parent_layer] = list(start)
        ordered = [0] * len(accepted)
        for i in accepted:
            parent_index = self.models[rs.slots[i].parent_id].index
            ordered[start[parent_index]] = i
            start[parent_index] += 1
        return self._add_models(rs, ordered, medians)

    def _add_models(self, rs: RoundState, ordered: list[int], medians: dict[int, int]) -> tuple[int, list[int]]:
        """Appends a layer holding the models of the slots `ordered`, in that order."""
        layer = len(self.layers)
        self.layers.append([])
        self.owner_models[layer] = {}
        ids = []
        for position, i in enumerate(ordered):
            s = rs.slots[i]
            model_id = len(self.models)
            self.models.append(
                Model(model_id, s.parent_id, layer, position, rs.number, s.trainer, i, medians[i],
                      s.weights_hash, layer, position, position + 1)
            )
            self.layers[layer].append(model_id)
            self.owner_models[layer][s.trainer] = model_id
            self.creators.add(s.trainer)
            ids.append(model_id)
        return layer, ids

    def _start_phase(self, rs: RoundState, phase: Phase) -> None:
        rs.phase = phase
        rs.phase_start = self.now

    def _advance_while_done(self, rs: RoundState) -> None:
        while True:
            if rs.phase == Phase.TRAINING and rs.submitted_count == len(rs.slots):
                self._start_phase(rs, Phase.COMMITTING)
            elif rs.phase == Phase.COMMITTING and (
                rs.submitted_count == 0 or rs.committed_count == len(rs.evaluators)
            ):
                self._start_phase(rs, Phase.REVEALING)
            else:
                return

    def forget_round(self, round_: int) -> None:
        """Drops the records of a settled round (a long simulation's memory). Its
        undelivered slots can then no longer be reclaimed (settlement paid them), so
        its undrawn stakers must have reclaimed theirs."""
        if round_ >= self.round:
            raise ValueError(f"round {round_} is not settled yet (current round {self.round})")
        if self.rounds.get(round_) and self.rounds[round_].undrawn:
            raise ValueError(f"round {round_} still holds the stakes of {sorted(self.rounds[round_].undrawn)}")
        self.rounds.pop(round_, None)

    # -------------------------------------------------------------- lineage

    def _scan_lineage(self, m: Model, max_layers: int) -> tuple[int, int, int, int, bool]:
        layer, lo, hi, ended = m.claim_layer, m.claim_lo, m.claim_hi, m.lineage_ended
        units = 0
        last = len(self.layers) - 1
        step = 0
        while step < max_layers and not ended and layer < last:
            child_start = self.child_start.get(layer)
            if child_start is None:  # the relay fell back from `layer`
                return units, layer, lo, hi, True
            lo, hi = child_start[lo], child_start[hi]
            units += hi - lo
            layer += 1
            ended = lo == hi
            step += 1
        return units, layer, lo, hi, ended

    def claimable(self, model_id: int, max_layers: int) -> tuple[int, bool]:
        """(units a claim of at most `max_layers` layers would pay, whether it would
        reach the newest layer). In a merge relay a unit is a later accepted model,
        whose lineage reward the model's layer shares, and a claim reads no layers
        (always complete)."""
        if model_id >= len(self.models):
            raise ProtocolRevert("RelayUnknownModel", model_id)
        m = self.models[model_id]
        if self.merge_lineage is not None:
            return self.merge_lineage.unclaimed(m.layer, m.index), True
        units, layer, _, _, ended = self._scan_lineage(m, max_layers)
        return units, ended or layer + 1 >= len(self.layers)

    def lineage_outlook(self, model_id: int) -> tuple[int, bool]:
        """(units claimable now, whether the lineage can never earn again: it died out,
        or in a merge relay its horizon passed or a fallback cut it), so a caller may
        stop watching it."""
        m = self.models[model_id]
        if self.merge_lineage is not None:
            return self.merge_lineage.unclaimed(m.layer, m.index), self.merge_lineage.closed(m.layer)
        units, _, _, _, ended = self._scan_lineage(m, len(self.layers))
        return units, ended

    def lineage_owed(self, account: str) -> int:
        """Lineage rewards, in token base units, that `account` could claim now over all
        the models it created."""
        if self.merge_lineage is not None:
            return sum(self.merge_lineage.owed(m.layer, m.index) for m in self.models if m.creator == account)
        units = sum(self.lineage_outlook(m.model_id)[0] for m in self.models if m.creator == account)
        return units * self.params.lineage_reward

    def claim(self, model_id: int, max_layers: int) -> int:
        """Mints model `model_id`'s creator the lineage rewards earned since its last
        claim, scanning at most `max_layers` layers; returns the units (a merge relay
        reads no layers: `claimed_units` counts the later models its claims counted,
        and the amount is the layer's equal share of them, less what it was paid)."""
        if model_id >= len(self.models):
            raise ProtocolRevert("RelayUnknownModel", model_id)
        if max_layers == 0:
            raise ProtocolRevert("RelayZeroAmount")
        m = self.models[model_id]
        if self.merge_lineage is not None:
            units = self.merge_lineage.unclaimed(m.layer, m.index)
            if units == 0:
                raise ProtocolRevert("RelayNothingToClaim", model_id)
            self._mint_credit(m.creator, self.merge_lineage.claim(m.layer, m.index))
            m.claimed_units += units
            m.lineage_ended = self.merge_lineage.closed(m.layer)
            return units
        units, layer, lo, hi, ended = self._scan_lineage(m, max_layers)
        if units == 0:
            raise ProtocolRevert("RelayNothingToClaim", model_id)
        m.claim_layer, m.claim_lo, m.claim_hi, m.lineage_ended = layer, lo, hi, ended
        m.claimed_units += units
        self._mint_credit(m.creator, units * self.params.lineage_reward)
        return units

    def descendants(self, model_id: int) -> int:
        """Accepted descendants of `model_id` that pay it lineage, counted by brute force
        over parent links: every child in the layer right after its parent's (a child
        trained after a fallback, in a later layer, starts a lineage of its own)."""
        children: dict[int, list[int]] = {}
        for m in self.models[1:]:
            if m.layer == self.models[m.parent_id].layer + 1:
                children.setdefault(m.parent_id, []).append(m.model_id)
        count = 0
        stack = list(children.get(model_id, []))
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(children.get(node, []))
        return count

    def withdraw(self, account: str, amount: int) -> None:
        if amount == 0:
            raise ProtocolRevert("RelayZeroAmount")
        credit = self.credit.get(account, 0)
        if amount > credit:
            raise ProtocolRevert("RelayInsufficientCredit", account, credit, amount)
        self.credit[account] = credit - amount
        self.wallet[account] = self.wallet.get(account, 0) + amount
