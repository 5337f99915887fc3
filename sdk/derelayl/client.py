"""Typed access to one deployed RelayLearning: every call, every view, every event.

`RelayClient` turns the contract's tuples into dataclasses with named fields, raises a
revert as `ContractRevert` named after the contract's custom error (through
`transactions.send`), and follows rounds from events. The participant agent, the CLI and the
demo all go through it, so there is one place that knows the ABI's shapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.logs import DISCARD

from derelayl.deploying import relay_contract
from derelayl.deployment import Deployment
from derelayl.errors import ConfigurationError, EventMissing
from derelayl.params import ProtocolParams
from derelayl.types import BidView, EvaluatorView, Model, OfferView, Phase, RoundView, Slot
from derelayl.transactions import send

#: The part of the ERC20 ABI a participant needs: its wallet, and letting the relay
#: draw deposits from it.
ERC20_ABI = [
    {"name": "balanceOf", "type": "function", "stateMutability": "view",
     "inputs": [{"name": "account", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]},
    {"name": "allowance", "type": "function", "stateMutability": "view",
     "inputs": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}],
     "outputs": [{"name": "", "type": "uint256"}]},
    {"name": "approve", "type": "function", "stateMutability": "nonpayable",
     "inputs": [{"name": "spender", "type": "address"}, {"name": "value", "type": "uint256"}],
     "outputs": [{"name": "", "type": "bool"}]},
]


class RelayClient:
    """One deployment seen through one web3 connection, acting as `account` (or
    read-only when `account` is None)."""

    def __init__(self, w3: Web3, deployment: Deployment, account=None) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.account = account
        self.relay, self.decoder = relay_contract(w3, deployment)
        self.token = w3.eth.contract(address=deployment.token, abi=ERC20_ABI)
        # Read batching (see `snapshot`, `prefetch`, `index_events`): off until used.
        self._block: int | str = "latest"  # the block views are read at
        self._cache: dict[tuple, Any] | None = None  # view results of the current snapshot
        self._index: list[dict[str, Any]] = []  # the relay's events through `_indexed_through`
        self._indexed_through: int | None = None
        self._sent_since_index = False
        self.sent: set[bytes] = set()  # hashes of the transactions this client sent (index_events marks theirs)
        self.used: list[tuple] = []  # the views asked for in the current snapshot (read, or from its memory)
        self._topics = {event_abi_to_log_topic(item): item["name"] for item in self.relay.abi
                        if item.get("type") == "event"}

    # ------------------------------------------------------------ plumbing

    def _call(self, name: str, *args) -> Any:
        if self._cache is None:
            return getattr(self.relay.functions, name)(*args).call()
        key = (name, *(tuple(a) if isinstance(a, list) else a for a in args))
        self.used.append((name, *args))
        if key not in self._cache:
            self._cache[key] = getattr(self.relay.functions, name)(*args).call(block_identifier=self._block)
        return self._cache[key]

    def _after_send(self) -> None:
        """Our own transaction changed the state: later reads see the latest block."""
        if self._cache is not None:
            self._cache.clear()
            self._block = "latest"
        self._sent_since_index = True

    # ------------------------------------------------------------ read batching

    def snapshot(self, block: int) -> None:
        """From now until `end_snapshot()`, every view is read at `block` and once only
        (a second read of the same view with the same arguments is answered from
        memory); a transaction sent meanwhile clears what was read, and reads after it
        are at the latest block. A participant takes one snapshot per new block."""
        self._block = block
        self._cache = {}
        self.used = []

    def end_snapshot(self) -> None:
        """Back to reading every view at the latest block, each time it is asked."""
        self._block = "latest"
        self._cache = None

    def prefetch(self, calls: list[tuple]) -> bool:
        """Reads the views `calls` (each `(name, *args)`, e.g. `("roundInfo", 3)`) of the
        current snapshot in one JSON-RPC batch (one HTTP request) into its memory, so the
        methods that read them later send nothing. False (and nothing kept) if the batch
        failed, e.g. one view reverted: they are then read one by one when asked."""
        if self._cache is None:
            raise RuntimeError("prefetch() needs a snapshot(block)")
        wanted = [c for c in calls if (c[0], *c[1:]) not in self._cache]
        if not wanted:
            return True
        try:
            with self.w3.batch_requests() as batch:
                for name, *args in wanted:
                    batch.add(getattr(self.relay.functions, name)(*args).call(block_identifier=self._block))
                results = batch.execute()
        except Exception:  # noqa: BLE001 - a revert or an unexpected reply: read one by one instead
            return False
        for (name, *args), result in zip(wanted, results):
            self._cache[(name, *args)] = result
        return True

    def index_events(self, to_block: int) -> list[dict[str, Any]]:
        """Reads the relay's events of every block after the last one indexed (from the
        deployment block, the first time) through `to_block`, in one `eth_getLogs`, and
        returns the new ones, oldest first (each with its `transactionHash` and `own`:
        whether this client sent it). From then on `events()` answers from this
        index (no call) until this client sends a transaction, then from the chain again
        until the next `index_events`."""
        start = self.deployment.block if self._indexed_through is None else self._indexed_through + 1
        new: list[dict[str, Any]] = []
        if to_block >= start:
            for log in self.w3.eth.get_logs({"address": self.deployment.relay, "fromBlock": start,
                                             "toBlock": to_block}):
                name = self._topics.get(bytes(log["topics"][0])) if log["topics"] else None
                if name is None:
                    continue
                event = getattr(self.relay.events, name)().process_log(log)
                entry = {"event": name, "blockNumber": log["blockNumber"], "logIndex": log["logIndex"],
                         **event["args"]}
                self._index.append(entry)
                new.append({**entry, "transactionHash": bytes(log["transactionHash"]),
                            "own": bytes(log["transactionHash"]) in self.sent})
            self._indexed_through = to_block
        self._sent_since_index = False
        return new

    @property
    def indexed_through(self) -> int | None:
        """The last block `index_events` read (None: no index)."""
        return self._indexed_through

    def _send(self, name: str, *args, heavy: bool = False, check: bool = True) -> dict[str, Any]:
        """Sends relay.<name>(*args). `heavy` calls (those that loop over a round's
        slots or bids) get a fixed limit of half a block instead of a gas estimate;
        every function stays below that at the largest round the caps allow."""
        if self.account is None:
            raise ConfigurationError(f"{name}() sends a transaction: this client has no account")
        gas = self.w3.eth.get_block("latest")["gasLimit"] // 2 if heavy else None
        try:
            receipt = send(self.w3, self.account, getattr(self.relay.functions, name)(*args), self.decoder, gas=gas,
                           check=check)
            self.sent.add(bytes(receipt["transactionHash"]))
            return receipt
        finally:
            self._after_send()

    @property
    def address(self) -> str | None:
        return None if self.account is None else self.account.address

    # ------------------------------------------------------------ transactions

    def register_key(self, public_key: bytes) -> dict[str, Any]:
        """Publishes the X25519 key that envelopes for this account are sealed to."""
        return self._send("registerKey", public_key)

    def bid(self, round: int, amount: int) -> dict[str, Any]:
        """Bids `amount` (base units, locked from credit first) to train in `round`."""
        return self._send("bid", round, amount)

    def offer(self, round: int, price: int) -> dict[str, Any]:
        """Offers this owner's current model at `price` per trainer (k * price locked)."""
        return self._send("offer", round, price)

    def stake_evaluator(self, round: int) -> dict[str, Any]:
        """Locks the evaluator stake to join `round`'s evaluator pool. When bidding closes
        the contract draws the round's evaluators from the pool by lot
        (`evaluators(round)`); a staker left out takes its stake back with
        `reclaim_stake`."""
        return self._send("stakeEvaluator", round)

    def reclaim_stake(self, round: int) -> dict[str, Any]:
        """Credits back this account's stake for `round`, whose draw left it out. Raises
        `ContractRevert` `RelayEvaluatorDrawn` if it was drawn (its stake settles with
        the round) and `RelayNotEvaluator` if it has no stake there."""
        return self._send("reclaimStake", round)

    def close_bidding(self) -> dict[str, Any]:
        """Closes Bidding in its two steps: the first `closeBidding` locks the round at
        its block (`BiddingLocked`), the second, sent once the first is mined (so in a
        later block), draws with that block's hash and matches. If someone else locked
        already, the first call is the draw. Returns the last receipt."""
        receipt = self._send("closeBidding", heavy=True)
        if self.relay.events.BiddingClosed().process_receipt(receipt, errors=DISCARD):
            return receipt
        # Unchecked: an eth_call on the latest block (the lock's) would see RelaySeedNotReady.
        return self._send("closeBidding", heavy=True, check=False)

    def deliver_key(self, round: int, slot: int, envelope: bytes) -> dict[str, Any]:
        """Hands the parent model's key, sealed to the slot's trainer."""
        return self._send("deliverKey", round, slot, envelope)

    def courier_offer(self, round: int, model_id: int) -> dict[str, Any]:
        """Offers model `model_id` at price 0 in place of its owner, who has not (this
        account evaluated the round that accepted the model)."""
        return self._send("courierOffer", round, model_id)

    def courier_key(self, round: int, slot: int, envelope: bytes) -> dict[str, Any]:
        """Delivers the parent model's key to the slot's trainer in place of an MO that
        has not, or whose key does not open the model (this account evaluated the round
        that accepted the parent model)."""
        return self._send("courierKey", round, slot, envelope)

    def deliver_bundle(self, round: int, slot: int, envelope: bytes) -> dict[str, Any]:
        """Merge relay: delivers the slot's trainer every key of the parent layer in one
        envelope sealed to it (this account evaluated the round that accepted the
        layer, or created the layer's only model). Raises ConfigurationError on a
        plain relay, which has no bundles."""
        self._require_merge_relay("deliver_bundle")
        return self._send("deliverBundle", round, slot, envelope)

    def _require_merge_relay(self, action: str) -> None:
        if not self.deployment.merge_horizon:
            raise ConfigurationError(f"{action}() is a merge relay's: the relay at {self.deployment.relay} is a plain "
                                     "relay (its deployment has no merge_horizon)")

    def request_key(self, round: int, slot: int) -> dict[str, Any]:
        """As the slot's trainer, asks the parent model's key holders to courier its
        key: none delivered so far opens the model."""
        return self._send("requestKey", round, slot)

    def submit(self, round: int, slot: int, weights_hash: bytes, cid: str, envelopes: list[bytes]) -> dict[str, Any]:
        """Records a trained model: sha256 of its plain weights, its CID, its key per evaluator."""
        return self._send("submit", round, slot, weights_hash, cid, envelopes)

    def close_training(self) -> dict[str, Any]:
        return self._send("closeTraining", heavy=True)

    def reclaim_undelivered(self, round: int, slot: int) -> dict[str, Any]:
        """Gets a trainer's bid back (and the price as amends) when its MO never delivered."""
        return self._send("reclaimUndelivered", round, slot)

    def commit(self, round: int, commitment: bytes) -> dict[str, Any]:
        return self._send("commit", round, commitment)

    def close_commit(self) -> dict[str, Any]:
        return self._send("closeCommit", heavy=True)

    def reveal(self, round: int, scores: list[int], salt: bytes) -> dict[str, Any]:
        return self._send("reveal", round, scores, salt)

    def settle(self) -> dict[str, Any]:
        return self._send("settle", heavy=True)

    def claim(self, model_id: int, max_layers: int = 64) -> dict[str, Any]:
        """Credits the creator of `model_id` for up to `max_layers` layers of descendants."""
        return self._send("claim", model_id, max_layers)

    def withdraw(self, amount: int) -> dict[str, Any]:
        """Moves `amount` of this account's credit to its wallet."""
        return self._send("withdraw", amount)

    def approve(self, amount: int) -> dict[str, Any]:
        """Lets the relay draw up to `amount` of this account's wallet tokens (deposits
        come from credit first, then from the wallet)."""
        if self.account is None:
            raise ConfigurationError("approve() sends a transaction: this client has no account")
        try:
            return send(self.w3, self.account, self.token.functions.approve(self.deployment.relay, amount),
                        self.decoder)
        finally:
            self._after_send()

    # ------------------------------------------------------------ views

    def params(self) -> ProtocolParams:
        return ProtocolParams(*self._call("params"))

    def task_spec_cid(self) -> str:
        """The CID of the deployment's task spec ("" when it records none)."""
        return self._call("taskSpecCid")

    def current_round(self) -> int:
        return self._call("currentRound")

    def round_info(self, round: int) -> RoundView:
        v = self._call("roundInfo", round)
        return RoundView(Phase(v[0]), *v[1:4], bytes(v[4]), *v[5:])

    def bids(self, round: int) -> list[BidView]:
        return [BidView(*b) for b in self._call("bidsOf", round)]

    def offers(self, round: int) -> list[OfferView]:
        return [OfferView(*o) for o in self._call("offersOf", round)]

    def evaluators(self, round: int) -> list[str]:
        return list(self._call("evaluatorsOf", round))

    def slot(self, round: int, slot: int) -> Slot:
        """The slot as `derelayl.protocol.Slot`, the same record the plain-Python rules keep
        (its CID, kept on chain only in the `ModelSubmitted` event, from that event)."""
        return self._slot(round, slot, self.submitted_cids(round))

    def slots(self, round: int) -> list[Slot]:
        cids = self.submitted_cids(round)
        return [self._slot(round, i, cids) for i in range(self.round_info(round).slot_count)]

    def _slot(self, round: int, slot: int, cids: dict[int, str]) -> Slot:
        trainer, parent_id, delivered, submitted, reclaimed, couriered, bid, price, weights_hash = self._call(
            "slotOf", round, slot)
        return Slot(trainer, parent_id, bid, price, delivered, submitted, reclaimed, couriered, bytes(weights_hash),
                    cids.get(slot, ""))

    def submitted_cids(self, round: int) -> dict[int, str]:
        """The CID of every model submitted in `round`, by slot (from its `ModelSubmitted`
        events: the contract keeps a CID in no storage)."""
        return {e["slot"]: e["cid"] for e in self.events("ModelSubmitted", round=round)}

    def trainer_slot(self, round: int, trainer: str) -> int | None:
        found, slot = self._call("trainerSlot", round, trainer)
        return slot if found else None

    def evaluator_state(self, round: int, evaluator: str) -> EvaluatorView:
        staked, committed, revealed, commitment = self._call("evaluatorState", round, evaluator)
        return EvaluatorView(staked, committed, revealed, bytes(commitment))

    def revealed_scores(self, round: int, evaluator: str) -> list[int]:
        return list(self._call("revealedScores", round, evaluator))

    def commitment_for(self, round: int, evaluator: str, scores: list[int], salt: bytes) -> bytes:
        """The commitment the contract expects for `scores` and `salt` (a local cross-check)."""
        return bytes(self._call("commitmentFor", round, evaluator, scores, salt))

    def model_count(self) -> int:
        return self._call("modelCount")

    def model(self, model_id: int) -> Model:
        """The model as `derelayl.protocol.Model` (the contract's struct, plus its id)."""
        v = self._call("modelOf", model_id)
        return Model(model_id, *v[:7], bytes(v[7]), *v[8:])

    def cid_of(self, model_id: int) -> str:
        """The CID of model `model_id`'s encrypted weights: the genesis CID, or the one its
        trainer submitted (the `ModelSubmitted` event of the model's round and slot)."""
        if model_id == 0:
            return self._call("genesisCid")
        model = self.model(model_id)
        cid = self.submitted_cids(model.round).get(model.slot)
        if cid is None:
            raise EventMissing(f"model {model_id}: no ModelSubmitted event for round {model.round}, slot {model.slot} "
                             f"(does the node keep the relay's logs since block {self.deployment.block}?)")
        return cid

    def current_model_of(self, account: str) -> int | None:
        """The model `account` owns for the next round, or None."""
        found, model_id = self._call("currentModelOf", account)
        return model_id if found else None

    def layer_count(self) -> int:
        return self._call("layerCount")

    def layer(self, layer: int) -> list[int]:
        return list(self._call("layerOf", layer))

    def claimable(self, model_id: int, max_layers: int = 64) -> tuple[int, bool]:
        units, complete = self._call("claimable", model_id, max_layers)
        return units, complete

    def credit_of(self, account: str) -> int:
        return self._call("creditOf", account)

    def wallet_of(self, account: str) -> int:
        return self.token.functions.balanceOf(account).call()

    def allowance_of(self, account: str) -> int:
        """How much of `account`'s wallet the relay may draw."""
        return self.token.functions.allowance(account, self.deployment.relay).call()

    def public_key_of(self, account: str) -> bytes:
        return bytes(self._call("publicKeyOf", account))

    def total_locked(self) -> int:
        return self._call("totalLocked")

    def total_credited(self) -> int:
        return self._call("totalCredited")

    # ------------------------------------------------------------ events

    def events(self, name: str, from_block: int | None = None, to_block: int | str = "latest",
               **filters) -> list[dict[str, Any]]:
        """Logs of event `name` (matching indexed `filters`), oldest first, as dicts of
        their arguments plus `event` and `blockNumber`. Answered from the index of
        `index_events` when it covers the blocks asked for."""
        indexed = self._indexed_through
        if indexed is not None and not self._sent_since_index and (to_block == "latest" or to_block <= indexed):
            first = self.deployment.block if from_block is None else from_block
            last = indexed if to_block == "latest" else to_block
            return [e for e in self._index if e["event"] == name and first <= e["blockNumber"] <= last
                    and all(e[k] == v for k, v in filters.items())]
        logs = getattr(self.relay.events, name).get_logs(
            from_block=self.deployment.block if from_block is None else from_block, to_block=to_block,
            argument_filters=filters or None)
        return [{"event": name, "blockNumber": log["blockNumber"], "logIndex": log["logIndex"], **log["args"]}
                for log in logs]

    def follow(self, names: tuple[str, ...] = ("PhaseStarted", "ModelAccepted", "RoundSettled"),
               from_block: int | None = None, poll: float = 1.0, stop=lambda: False) -> Iterator[dict[str, Any]]:
        """Yields the events `names` as blocks arrive (polling), in block order, until `stop()`."""
        next_block = self.deployment.block if from_block is None else from_block
        while not stop():
            head = self.w3.eth.block_number
            if head >= next_block:
                batch = [e for name in names for e in self.events(name, next_block, head)]
                yield from sorted(batch, key=lambda e: (e["blockNumber"], e["logIndex"]))
                next_block = head + 1
            else:
                time.sleep(poll)
