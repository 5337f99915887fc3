"""A participant that plays model owner, trainer or evaluator, round after round.

It polls the chain and does what the current phase asks of it. The chain is the record
of what was done (a bid placed, a model submitted, scores committed), so a restarted
participant never acts twice; its state folder keeps what the chain must not see (its
X25519 key, model keys, salts, scores and trained weights), each written *before* the
transaction that needs it, so a crash or a failed transaction never loses a trained
model or a commitment.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
from web3 import Web3

from derelayl import crypto
from derelayl.chain import ContractRevert, Deployment, connect
from derelayl.client import EvaluatorView, RelayClient, RoundView
from derelayl.commitment import score_commitment
from derelayl.errors import DeRelayLError
from derelayl.params import SAFE_QUORUM, SCORE_SCALE, SMALL_QUORUM_RISK, TOKEN
from derelayl.policies import PolicyView, default_bid, default_price
from derelayl.protocol import Phase, Slot
from derelayl.storage import ModelStore
from derelayl.training import ModelSpec, evaluate, load_weights, save_weights, train_turn, weights_metadata


def submission_binding(relay: str, round_: int, slot: int, trainer: str) -> dict[str, str]:
    """What a trainer writes into the header of the weights it submits. The sha256 on
    chain covers the header, so the binding cannot be changed without the model key.
    Anyone can copy another trainer's CID, hash and key envelopes from its
    `ModelSubmitted` event into their own slot; evaluators then find the original
    trainer's name in the weights and score the copy 0."""
    return {"derelayl.relay": relay.lower(), "derelayl.round": str(round_), "derelayl.slot": str(slot),
            "derelayl.trainer": trainer.lower()}


@dataclass
class ParticipantConfig:
    """How one participant plays."""

    role: str  # "trainer" (also plays model owner once accepted) or "evaluator"
    state_dir: Path
    spec: ModelSpec = field(default_factory=ModelSpec)
    epochs: int = 5
    lr: float = 0.05
    seed: int = 0
    poll_interval: float = 1.0
    close_jitter: float = 3.0  # seconds; see Participant.try_close
    progress: bool = False  # a tqdm bar while training
    empty_round_grace: float = 30.0  # extra seconds before closing a bidding phase nobody can win
    bid_policy: Callable[[PolicyView], int] = default_bid
    price_policy: Callable[[PolicyView], int] = default_price


class StateFile:
    """A JSON document written atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)


def close_time(info: RoundView, quorum: int, empty_round_grace: float) -> float:
    """When a participant closes the phase `info` describes: at its deadline. A Bidding
    phase that could lead to no ranking (no offer, or fewer evaluator stakers than the
    quorum: every slot would end `NoQuorum`) gets `empty_round_grace` seconds more, for
    a slow model owner or evaluator (say, one still starting up) to join."""
    if info.phase == Phase.BIDDING and (info.offer_count == 0 or info.evaluator_count < quorum):
        return info.deadline + empty_round_grace
    return info.deadline


class Participant:
    """One account playing the relay through `deployment`, storing weights in `store`."""

    def __init__(self, config: ParticipantConfig, deployment: Deployment, account, store: ModelStore,
                 features: np.ndarray, labels: np.ndarray, rpc_url: str | None = None,
                 log: Callable[[str], None] = print) -> None:
        self.config = config
        self.account = account
        self.store = store
        self.features, self.labels = features, labels
        self.log = log
        self.w3: Web3 = connect(rpc_url or deployment.rpc_url)
        self.client = RelayClient(self.w3, deployment, account)
        self.deployment = deployment
        config.state_dir.mkdir(parents=True, exist_ok=True)
        (config.state_dir / "weights").mkdir(exist_ok=True)
        self.state = StateFile(config.state_dir / "state.json")
        if "x25519" not in self.state.data:
            self.state.data.update({"x25519": crypto.KeyPair.generate().private.hex(), "model_keys": {},
                                    "rounds": {}, "own_version": -1})
            self.state.save()
        self.keypair = crypto.KeyPair.from_private(bytes.fromhex(self.state.data["x25519"]))
        params = self.client.params()
        self.k, self.quorum, self.min_price = params.k, params.quorum, params.min_price
        if params.quorum < SAFE_QUORUM:
            self.log(f"warning: this task ranks a model on as few as {params.quorum} evaluator score(s); "
                     f"{SMALL_QUORUM_RISK}")
        if self.deployment.genesis_key and "0" not in self.state.data["model_keys"] \
                and self.client.model(0).creator == self.address:
            self.state.data["model_keys"]["0"] = self.deployment.genesis_key  # the genesis owner delivers it
            self.state.save()
        self._idle: tuple[int, int] | None = None  # (round, phase) with nothing left to do
        self._scored_keys: dict[int, bytes | None] = {}  # model id -> its key, if this evaluator scored it
        self._wrong_envelopes: set[bytes] = set()  # delivered keys found not to open their model
        self._genesis_checked: bool | None = None  # whether the published genesis key opens genesis

    # ------------------------------------------------------------ plumbing

    @property
    def address(self) -> str:
        return self.account.address

    def try_close(self, r: int, phase: Phase) -> None:
        """Closes `phase` of round `r`. Every participant may do it, so they race: each
        waits a random moment and looks again first, so that (usually) one sends the
        transaction instead of all of them. Ganache runs a gas estimate of every sent
        settle, and ten at once cost seconds. Losing the race is fine."""
        time.sleep(random.uniform(0, self.config.close_jitter))
        if self.client.current_round() != r or self.client.round_info(r).phase != phase:
            return
        close = {Phase.BIDDING: self.client.close_bidding, Phase.TRAINING: self.client.close_training,
                 Phase.COMMITTING: self.client.close_commit, Phase.REVEALING: self.client.settle}[phase]
        try:
            close()
            self.log(f"{close.__name__}()")
        except ContractRevert as exc:
            if exc.name not in ("RelayWrongPhase", "RelayPhaseNotOver", "RelaySeedNotReady"):
                raise

    def round_state(self, r: int) -> dict[str, Any]:
        return self.state.data["rounds"].setdefault(str(r), {})

    def model_key(self, model_id: int) -> bytes | None:
        """The key of a model this participant created (or was given, like genesis)."""
        key = self.state.data["model_keys"].get(str(model_id))
        if key is None:
            cid = self.client.cid_of(model_id)
            key = next((m["key"] for m in self.state.data["rounds"].values() if m.get("cid") == cid), None)
        return bytes.fromhex(key) if key else None

    def now(self) -> float:
        """Wall-clock time: a dev chain mines no block while nobody sends, so its
        latest block time can lag; the contract checks the deadline again anyway."""
        return time.time()

    # ---------------------------------------------------------------- loop

    def run(self, rounds: int | None = None, stop: Callable[[], bool] = lambda: False) -> None:
        """Plays until round `rounds` has been settled (or `stop()` says so)."""
        if self.client.public_key_of(self.address) != self.keypair.public:
            self.client.register_key(self.keypair.public)
        while not stop():
            r = None
            try:
                r = self.client.current_round()
                if rounds is not None and r >= rounds:
                    return
                self.step(r)
            except (ContractRevert, DeRelayLError) as exc:
                # Others act at the same time: a phase may close between our read and our
                # transaction; or IPFS was briefly unreachable. The chain is the record
                # and the state folder holds the rest, so the next poll simply resumes.
                self.log(f"round {r}: {exc} (resuming)")
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.log(f"chain at {self.deployment.rpc_url} unreachable ({type(exc).__name__}); retrying")
                time.sleep(5.0)
            time.sleep(self.config.poll_interval)

    def step(self, r: int) -> None:
        """Does whatever the current phase of round `r` asks of this participant, then
        closes the phase if its deadline passed (or, for settlement, everyone revealed)."""
        info = self.client.round_info(r)
        phase = info.phase
        if self.config.role == "evaluator":
            self.reclaim_undrawn_stakes(r, phase)
        if phase == Phase.SETTLED:
            return  # nothing left to do in a settled round
        if self._idle != (r, phase):
            done = {
                Phase.BIDDING: lambda: self.bidding(r),
                Phase.TRAINING: lambda: self.deliver_keys(r) & self.courier_keys(r) & self.train_and_submit(r),
                Phase.COMMITTING: lambda: self.score_and_commit(r),
                Phase.REVEALING: lambda: self.reveal(r),
            }[phase]()
            if done:
                self._idle = (r, phase)  # only deadlines to watch until the phase changes
        deadline = close_time(info, self.quorum, self.config.empty_round_grace)
        if self.now() >= deadline or (phase == Phase.REVEALING and info.revealed_count == info.committed_count):
            self.try_close(r, phase)

    # ------------------------------------------------------------- bidding

    def policy_view(self) -> PolicyView:
        return PolicyView(self.client.credit_of(self.address), self.client.layer_count() - 1,
                          self.state.data["own_version"], self.k, self.min_price)

    def bidding(self, r: int) -> bool:
        if self.config.role == "evaluator":
            if not self.client.evaluator_state(r, self.address).staked:
                self.client.stake_evaluator(r)
                self.round_state(r)["staked"] = True
                self.state.save()
                self.log(f"round {r}: staked as evaluator (joins the pool the round's evaluators are drawn from)")
            return self.courier_offers(r)
        self.claim_lineage()
        model_id = self.client.current_model_of(self.address)
        if model_id is not None:
            if not any(o.model_id == model_id for o in self.client.offers(r)):
                price = self.config.price_policy(self.policy_view())
                if price is None or price < self.min_price:  # the contract would refuse it
                    self.log(f"round {r}: not offering model {model_id}: the credit does not cover "
                             f"{self.k} x the minimum price {self.min_price / TOKEN:.3f} DRL")
                    return True
                self.client.offer(r, price)
                self.log(f"round {r}: offered model {model_id} at {price / TOKEN:.3f} DRL per trainer")
        elif not any(b.trainer == self.address for b in self.client.bids(r)):
            if self.client.round_info(r).parent_layer == 0 and not self.genesis_checked(r):
                return True  # said why; nothing to do this round
            amount = self.config.bid_policy(self.policy_view())
            self.client.bid(r, amount)
            self.log(f"round {r}: bid {amount / TOKEN:.3f} DRL")
        return True

    def genesis_checked(self, r: int) -> bool:
        """Whether the genesis model opens with the key its deployment publishes and
        matches its on-chain hash. Checked once, before bidding on it: nobody but the
        genesis owner holds its key, so no courier could make up for a key that fails,
        and the bid would burn. Without a published key the trainer does not bid."""
        if self._genesis_checked is None:
            key = self.deployment.published_genesis_key()
            if key is None:
                self._genesis_checked = False
                self.log(f"round {r}: not bidding on the genesis model: the deployment publishes no genesis key "
                         f"to check it with (nobody but its owner holds the key, so a wrong one would cost the bid)")
            else:
                try:
                    self.open_model(0, key)
                    self._genesis_checked = True
                except crypto.DecryptionError as exc:  # a storage error is not cached: tried again next poll
                    self._genesis_checked = False
                    self.log(f"round {r}: not bidding on the genesis model: its published key does not open it ({exc})")
        return self._genesis_checked

    def courier_offers(self, r: int) -> bool:
        """As an evaluator, for each model of the layer that nobody offered in the round
        before (same layer: its owner went away), offers at price 0 each such model it scored in
        the round that accepted it and that nobody offered by half-time of Bidding:
        owners who all left cannot stop the relay. Done (True) once no such model is
        waiting."""
        info = self.client.round_info(r)
        if r == 0 or self.client.round_info(r - 1).parent_layer != info.parent_layer:
            return True  # the owners' first round: couriers may not offer (RelayOwnersStillActive)
        offered = {o.model_id for o in self.client.offers(r)}
        offered |= {o.model_id for o in self.client.offers(r - 1)}  # its owner may be active
        waiting = False
        for model_id in self.client.layer(info.parent_layer):
            if model_id in offered or model_id == 0 or self.key_of_scored_model(model_id) is None:
                continue
            if not self.past_half_time(info):
                waiting = True  # the owner's turn first
                continue
            self.client.courier_offer(r, model_id)
            self.log(f"round {r}: offered model {model_id} in place of its owner, who had not")
        return not waiting

    # ------------------------------------------------------------ training

    def deliver_keys(self, r: int) -> bool:
        model_id = self.client.current_model_of(self.address)
        if model_id is None:
            return True
        if self.key_window_closed(self.client.round_info(r).key_deadline):
            return True  # too late: the contract takes an owner's key in the first half only
        key = self.model_key(model_id)
        for slot, s in enumerate(self.client.slots(r)):
            if s.parent_id != model_id or s.delivered:  # another MO's slot, or delivered already
                continue
            if key is None:
                self.log(f"round {r}: no key for model {model_id}: cannot deliver slot {slot}")
                continue
            self.client.deliver_key(r, slot, crypto.seal_key(key, self.client.public_key_of(s.trainer)))
            self.log(f"round {r}: delivered the key of model {model_id} to slot {slot}")
        return True

    def courier_keys(self, r: int) -> bool:
        """As an evaluator, delivers the key of a model it scored (in the round that
        accepted it) to each trainer of round `r` that needs it: one whose MO has not
        delivered by half-time of the Training phase, or one that asked (`KeyRequested`)
        because the key it got does not open the model. Withholding or cheating owners
        then cannot stop the relay or cost the trainer its bid. Each slot gets this
        evaluator's key once. Done (True) once every slot it could serve is submitted
        or served: until then a request may still come."""
        if self.config.role != "evaluator":
            return True
        info = self.client.round_info(r)
        if self.key_window_closed(info.courier_deadline):
            return True  # too late: couriers' keys are taken in the first three quarters only
        mine = self.round_state(r).setdefault("couriered", [])
        requested = {e["slot"] for e in self.client.events("KeyRequested", round=r)}
        waiting = False
        for slot, s in enumerate(self.client.slots(r)):
            if s.submitted or slot in mine or s.parent_id == 0:
                continue
            key = self.key_of_scored_model(s.parent_id)
            if key is None:
                continue  # not a model this evaluator scored
            asked = slot in requested
            if not asked and (s.delivered or not self.past_half_time(info)):
                waiting = True  # the owner's turn first; a delivered key may yet fail
                continue
            self.client.courier_key(r, slot, crypto.seal_key(key, self.client.public_key_of(s.trainer)))
            mine.append(slot)
            self.state.save()
            why = "its trainer asked: the key it got does not open it" if asked else "its owner had not"
            self.log(f"round {r}: couriered the key of model {s.parent_id} to slot {slot} ({why})")
        return not waiting

    def key_window_closed(self, deadline: int) -> bool:
        """Whether a Training key window (`RoundView.key_deadline` or
        `courier_deadline`; 0: no window) has closed."""
        return deadline != 0 and self.now() >= deadline

    def past_half_time(self, info: RoundView) -> bool:
        """Whether the round's current phase is half over: until then a courier leaves
        the owner its turn."""
        return self.now() >= (info.phase_start + info.deadline) / 2

    def key_of_scored_model(self, model_id: int) -> bytes | None:
        """The key of accepted model `model_id`, if this participant evaluated the round
        that accepted it: the trainer sealed it to every evaluator of that round.
        Remembered: an accepted model's key never changes, and couriers ask every poll."""
        if model_id not in self._scored_keys:
            self._scored_keys[model_id] = self.open_scored_key(model_id)
        return self._scored_keys[model_id]

    def open_scored_key(self, model_id: int) -> bytes | None:
        model = self.client.model(model_id)
        evaluators = self.client.evaluators(model.round)
        if self.address not in evaluators:
            return None
        envelopes = self.event_arg("ModelSubmitted", "envelopes", round=model.round, slot=model.slot)
        try:
            return crypto.open_envelope(envelopes[evaluators.index(self.address)], self.keypair)
        except crypto.DecryptionError as exc:
            self.log(f"model {model_id}: the key sealed to this evaluator does not open ({exc})")
            return None

    def my_models(self) -> list[int]:
        """Ids of the accepted models this participant created (learned from events)."""
        for r, mine in self.state.data["rounds"].items():
            if "cid" in mine and "model_id" not in mine and int(r) < self.client.current_round():
                found = [e["modelId"] for e in self.client.events("ModelAccepted", round=int(r))
                         if e["creator"] == self.address]
                mine["model_id"] = found[0] if found else None  # None: not accepted
                self.state.save()
        trained = [m["model_id"] for m in self.state.data["rounds"].values() if m.get("model_id") is not None]
        given = [int(model_id) for model_id in self.state.data["model_keys"]]  # e.g. genesis
        return sorted(set(trained + given))

    def claim_lineage(self, max_layers: int = 64) -> None:
        """Collects the lineage reward of every own model with accepted descendants."""
        for model_id in self.my_models():
            units, _ = self.client.claimable(model_id, max_layers)
            if units:
                self.client.claim(model_id, max_layers)
                self.log(f"claimed {units} descendant(s) of model {model_id}")

    def my_slot(self, r: int) -> int | None:
        return self.client.trainer_slot(r, self.address)

    def train_and_submit(self, r: int) -> bool:
        slot = self.my_slot(r)
        if slot is None:
            return True
        s = self.client.slot(r, slot)
        if s.submitted:
            return True  # submitted already
        if not s.delivered and not s.couriered:
            return False  # no key yet: keep watching
        mine = self.round_state(r)
        if "cid" not in mine:  # train (again, after a crash) only what was never stored
            parent_id = s.parent_id
            deliveries = self.key_deliveries(r, slot)
            model = self.open_parent(r, parent_id, deliveries)
            if model is None:
                if parent_id != 0:  # nobody but its owner holds the genesis key (also published)
                    self.request_key(r, slot, len(deliveries))
                return False  # no key that opens the parent yet: keep watching
            train_turn(model, self.features, self.labels, epochs=self.config.epochs, lr=self.config.lr,
                       seed=self.config.seed + r, progress=self.config.progress)
            plain = save_weights(model, submission_binding(self.deployment.relay, r, slot, self.address))
            cid, key = self.store.put_encrypted(plain)
            (self.config.state_dir / "weights" / f"{cid}.safetensors").write_bytes(plain)
            mine.update({"slot": slot, "parent": parent_id, "cid": cid, "key": key.hex(),
                         "hash": crypto.weights_hash(plain).hex()})
            self.state.save()  # the trained model is safe before any transaction
            self.log(f"round {r}: trained on model {parent_id}, pinned {cid}")
        key = bytes.fromhex(mine["key"])
        envelopes = [crypto.seal_key(key, self.client.public_key_of(e)) for e in self.client.evaluators(r)]
        self.client.submit(r, slot, bytes.fromhex(mine["hash"]), mine["cid"], envelopes)
        self.log(f"round {r}: submitted slot {slot}")
        return True

    def key_deliveries(self, r: int, slot: int) -> list[dict[str, Any]]:
        """Every key delivered to `slot`: the owner's, then the couriers'."""
        return self.client.events("KeyDelivered", round=r, slot=slot) + \
            self.client.events("KeyCouriered", round=r, slot=slot)

    def request_key(self, r: int, slot: int, delivery_count: int) -> None:
        """Asks the parent's key holders for its key, since none of the
        `delivery_count` keys delivered to `slot` opens the model (the owner, or a
        courier, sent a wrong one). Asks again only when a newer key fails too."""
        mine = self.round_state(r)
        if mine.get("requested_after", 0) >= delivery_count:
            return  # asked already; waiting for a courier
        if self.key_window_closed(self.client.round_info(r).courier_deadline):
            return  # too late for a courier: the contract would refuse the request
        self.client.request_key(r, slot)
        mine["requested_after"] = delivery_count
        self.state.save()
        self.log(f"round {r}: asked the key holders for the parent's key (none of {delivery_count} opens it)")

    def open_parent(self, r: int, parent_id: int, deliveries: list[dict[str, Any]]):
        """The parent model, opened with the first of `deliveries` whose key matches its
        on-chain hash: the owner's, or a courier's (either could send a wrong one). None
        if none opens it. A key found wrong is not tried (nor the model fetched) again.
        The genesis opens with its published key, checked before bidding: the owner's
        delivery only lets the contract take the submission."""
        genesis_key = self.deployment.published_genesis_key()
        if parent_id == 0 and genesis_key is not None:
            return self.fetch_model(0, genesis_key)
        for delivery in deliveries:
            envelope = bytes(delivery["envelope"])
            if envelope in self._wrong_envelopes:
                continue
            try:
                return self.fetch_model(parent_id, crypto.open_envelope(envelope, self.keypair))
            except crypto.DecryptionError as exc:
                self._wrong_envelopes.add(envelope)
                who = delivery.get("courier", "its owner")
                self.log(f"round {r}: the key of model {parent_id} from {who} does not open it ({exc})")
        return None

    def fetch_model(self, model_id: int, key: bytes):
        """Fetches, decrypts, checks and loads model `model_id` (never unchecked bytes),
        to train on: the participant now holds its layer."""
        plain = self.open_model(model_id, key)
        self.state.data["own_version"] = max(self.state.data["own_version"], self.client.model(model_id).layer)
        return load_weights(self.config.spec, plain)

    def open_model(self, model_id: int, key: bytes) -> bytes:
        """The plain weights of model `model_id`, fetched and decrypted with `key`;
        DecryptionError unless they match the model's on-chain sha256."""
        cid = self.client.cid_of(model_id)
        plain = crypto.decrypt(self.store.get(cid), key)
        if crypto.weights_hash(plain) != self.client.model(model_id).weights_hash:
            raise crypto.DecryptionError(f"model {model_id} ({cid}) does not match its on-chain sha256")
        return plain

    def event_arg(self, event: str, arg: str, **filters):
        logs = self.client.events(event, **filters)
        if not logs:
            raise LookupError(f"no {event} event for {filters}")
        return logs[-1][arg]

    # ------------------------------------------------------------- testing

    def score_and_commit(self, r: int) -> bool:
        if self.config.role != "evaluator":
            return True
        state = self.evaluator_state(r)
        if not state.staked or state.committed:
            return True
        mine = self.round_state(r)
        if "salt" not in mine:
            index = self.client.evaluators(r).index(self.address)
            scores = [self.score_slot(r, slot, s, index) if s.submitted else 0
                      for slot, s in enumerate(self.client.slots(r))]
            mine.update({"scores": scores, "salt": os.urandom(32).hex()})
            self.state.save()  # scores and salt are safe before the commitment is sent
        commitment = score_commitment(self.w3.eth.chain_id, self.deployment.relay, r, self.address,
                                      mine["scores"], bytes.fromhex(mine["salt"]))
        self.client.commit(r, commitment)
        self.log(f"round {r}: committed scores {[round(x / SCORE_SCALE, 3) for x in mine['scores']]}")
        return True

    def evaluator_state(self, r: int) -> EvaluatorView:
        """This evaluator's state in round `r`, `staked` only if it was drawn to a seat
        (a staker the draw left out has nothing to score)."""
        state = self.client.evaluator_state(r, self.address)
        if state.staked and not self.drawn(r):
            return EvaluatorView(False, state.committed, state.revealed, state.commitment)
        return state

    def drawn(self, r: int) -> bool:
        """Whether the draw of round `r` seated this evaluator (after bidding closed)."""
        return self.address in self.client.evaluators(r)

    def reclaim_undrawn_stakes(self, current: int, phase: Phase) -> None:
        """Takes back the stake of every round whose draw left this evaluator out: the
        contract keeps it until its staker asks (`reclaimStake`). The rounds come from
        the state folder, so a participant restarted rounds later still reclaims."""
        for key, mine in self.state.data["rounds"].items():
            r = int(key)
            if not mine.get("staked") or (r == current and phase == Phase.BIDDING):
                continue  # no stake waiting, or the draw is still to come
            if self.drawn(r):
                self.log(f"round {r}: drawn to evaluate")
            elif self.client.evaluator_state(r, self.address).staked:
                self.client.reclaim_stake(r)
                self.log(f"round {r}: not drawn to evaluate; took the stake back")
            del mine["staked"]
            self.state.save()

    def score_slot(self, r: int, slot: int, s: Slot, index: int) -> int:
        envelopes = self.event_arg("ModelSubmitted", "envelopes", round=r, slot=slot)
        try:
            key = crypto.open_envelope(envelopes[index], self.keypair)
            plain = crypto.decrypt(self.store.get(s.cid), key)
            if crypto.weights_hash(plain) != s.weights_hash:
                raise crypto.DecryptionError("weights do not match the submitted sha256")
            expected = submission_binding(self.deployment.relay, r, slot, s.trainer)
            found = {k: v for k, v in weights_metadata(plain).items() if k in expected}
            if found != expected:
                raise crypto.DecryptionError(f"weights bound to {found or 'nothing'}, not to this slot: a copy")
            model = load_weights(self.config.spec, plain)
        except Exception as exc:  # noqa: BLE001 - any unusable submission scores 0
            self.log(f"round {r}: slot {slot} unusable ({exc}); scored 0")
            return 0
        return round(evaluate(model, self.features, self.labels) * SCORE_SCALE)

    def reveal(self, r: int) -> bool:
        if self.config.role != "evaluator":
            return True
        state = self.evaluator_state(r)
        mine = self.round_state(r)
        if state.committed and not state.revealed and "salt" in mine:
            self.client.reveal(r, mine["scores"], bytes.fromhex(mine["salt"]))
            self.log(f"round {r}: revealed")
        return True
