"""The trainer, who becomes a model owner (MO) once its model is accepted.

As a trainer it bids for a slot, opens its parent model with the key its MO (or a
courier) delivered, trains it on its own data with the task's training turn, pins the
encrypted result and submits it. As an MO it offers its model and delivers the key to
its matched trainers. Either way it claims the lineage rewards of its models.

In a merge relay (docs/merge.md) it starts instead from a merge of every model of the
parent layer, opened with the keys of the bundle a key holder delivered; the owners
of the parent layer sit the round out (they neither offer nor bid), except that the
creator of a layer's only model (the genesis owner) bundles its key to the slots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from derelayl import crypto
from derelayl.errors import ContractRevert
from derelayl.merge import MERGES
from derelayl.params import TOKEN
from derelayl.policies import PolicyView
from derelayl.roles import Role
from derelayl.storage import Pinning
from derelayl.weights import load_weights, save_weights


def submission_binding(relay: str, round_: int, slot: int, trainer: str) -> dict[str, str]:
    """What a trainer writes into the header of the weights it submits. The sha256 on
    chain covers the header, so the binding cannot be changed without the model key.
    Anyone can copy another trainer's CID, hash and key envelopes from its
    `ModelSubmitted` event into their own slot; evaluators then find the original
    trainer's name in the weights and score the copy 0."""
    return {"derelayl.relay": relay.lower(), "derelayl.round": str(round_), "derelayl.slot": str(slot),
            "derelayl.trainer": trainer.lower()}


class TrainerRole(Role):
    """Bids, trains and submits; offers and delivers once it owns a model."""

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._wrong_envelopes: set[bytes] = set()  # delivered keys found not to open their model
        self._genesis_checked: bool | None = None  # whether the published genesis key opens genesis

    # ------------------------------------------------------------- bidding

    def bidding(self, r: int) -> bool:
        self.claim_lineage()
        a = self.agent
        model_id = self.client.current_model_of(a.address)
        if model_id is not None and a.deployment.merge_horizon:
            self.log(f"round {r}: sits the round out: it owns model {model_id} of the parent layer, and in a merge "
                     f"relay its owners neither offer nor bid")
            return True
        if model_id is not None:
            if not any(o.model_id == model_id for o in self.client.offers(r)):
                price = a.config.price_policy(self.policy_view())
                if price is None or price < a.params.min_price:  # the contract would refuse it
                    self.log(f"round {r}: not offering model {model_id}: the credit does not cover "
                             f"{a.k} x the minimum price {a.params.min_price / TOKEN:.3f} DRL")
                    return True
                self.client.offer(r, price)
                self.log(f"round {r}: offered model {model_id} at {price / TOKEN:.3f} DRL per trainer")
        elif not any(b.trainer == a.address for b in self.client.bids(r)):
            on_genesis = self.client.layer(self.client.round_info(r).parent_layer) == [0]  # also after a fallback
            if on_genesis and not self.genesis_checked(r):
                return True  # said why; nothing to do this round
            amount = a.config.bid_policy(self.policy_view())
            try:
                self.client.bid(r, amount)
            except ContractRevert as exc:
                if exc.name != "RelayBidTooLow":
                    raise
                # The bid list is full of higher bids and only rises: the same bid would
                # be refused again at every look until Bidding closes.
                self.log(f"round {r}: a bid of {amount / TOKEN:.3f} DRL is not above the lowest of the full bid list; "
                         f"not bidding again this round")
                return True
            self.log(f"round {r}: bid {amount / TOKEN:.3f} DRL")
        return True

    def policy_view(self) -> PolicyView:
        a = self.agent
        return PolicyView(self.client.credit_of(a.address), self.client.layer_count() - 1,
                          a.state.data["own_version"], a.k, a.params.min_price)

    def genesis_checked(self, r: int) -> bool:
        """Whether the genesis model opens with the key its deployment publishes and
        matches its on-chain hash. Checked once, before bidding on it: nobody but the
        genesis owner holds its key, so no courier could make up for a key that fails,
        and the bid would burn. Without a published key the trainer does not bid."""
        if self._genesis_checked is None:
            key = self.agent.deployment.published_genesis_key()
            if key is None:
                self._genesis_checked = False
                self.log(f"round {r}: not bidding on the genesis model: the deployment publishes no genesis key "
                         f"to check it with (nobody but its owner holds the key, so a wrong one would cost the bid)")
            else:
                try:
                    self.agent.open_model(0, key)
                    self._genesis_checked = True
                except crypto.DecryptionError as exc:  # a storage error is not cached: tried again next poll
                    self._genesis_checked = False
                    self.log(f"round {r}: not bidding on the genesis model: its published key does not open it ({exc})")
        return self._genesis_checked

    def my_models(self) -> list[int]:
        """Ids of the accepted models this participant created (learned from events)."""
        state = self.agent.state
        for r, mine in state.data["rounds"].items():
            if "cid" in mine and "model_id" not in mine and int(r) < self.client.current_round():
                found = [e["modelId"] for e in self.client.events("ModelAccepted", round=int(r))
                         if e["creator"] == self.agent.address]
                mine["model_id"] = found[0] if found else None  # None: not accepted
                state.save()
        trained = [m["model_id"] for m in state.data["rounds"].values() if m.get("model_id") is not None]
        given = [int(model_id) for model_id in state.data["model_keys"]]  # e.g. genesis
        return sorted(set(trained + given))

    def claim_lineage(self, max_layers: int = 64) -> None:
        """Collects the lineage reward of every own model with accepted descendants."""
        for model_id in self.my_models():
            units, _ = self.client.claimable(model_id, max_layers)
            if units:
                self.client.claim(model_id, max_layers)
                self.log(f"claimed {units} descendant(s) of model {model_id}")

    # ------------------------------------------------------------ training

    def training(self, r: int) -> bool:
        delivered = self.deliver_keys(r)
        submitted = self.train_and_submit(r)
        return delivered and submitted

    def model_key(self, model_id: int) -> bytes | None:
        """The key of a model this participant created (or was given, like genesis)."""
        state = self.agent.state
        key = state.data["model_keys"].get(str(model_id))
        if key is None:
            cid = self.client.cid_of(model_id)
            key = next((m["key"] for m in state.data["rounds"].values() if m.get("cid") == cid), None)
        return bytes.fromhex(key) if key else None

    def deliver_keys(self, r: int) -> bool:
        """As an MO, seals its model's key to each matched trainer that has none yet (in
        a merge relay: `deliver_bundles`)."""
        model_id = self.client.current_model_of(self.agent.address)
        if model_id is None:
            return True
        if self.agent.deployment.merge_horizon:
            return self.deliver_bundles(r, model_id)
        if self.agent.key_window_closed(self.client.round_info(r).key_deadline):
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

    def deliver_bundles(self, r: int, model_id: int) -> bool:
        """In a merge relay, as the creator of the parent layer's only model (the genesis
        owner, or the one accepted trainer of a round): bundles that model's key to the
        slots, before the evaluators who also hold it (`Role.bundle_slots`). An owner of
        a larger layer holds only its own key: the accepting round's evaluators bundle
        the layer (`EvaluatorRole.deliver_bundles`)."""
        if self.client.layer(self.client.round_info(r).parent_layer) != [model_id]:
            return True
        key = self.model_key(model_id)
        if key is None:
            self.log(f"round {r}: no key for model {model_id}: cannot bundle it")
            return True
        return self.bundle_slots(r, [key], True, f"the key of model {model_id}")

    def train_and_submit(self, r: int) -> bool:
        """As a matched trainer: opens the parent, trains it, pins and submits the result
        (once; a trained model is kept on disk before any transaction)."""
        a = self.agent
        slot = a.my_slot(r)
        if slot is None:
            return True
        s = self.client.slot(r, slot)
        mine = a.round_state(r)
        if s.submitted:
            self.finish_pin(r, mine, None)  # a pin that failed after the submission is done again
            return True  # submitted already
        if not s.delivered and not s.couriered:
            return False  # no key yet: keep watching
        pinning = None
        if "cid" not in mine:  # train (again, after a crash) only what was never stored
            parent_id = s.parent_id
            model, start = self.starting_model(r, slot, parent_id)
            if model is None:
                return False  # no key that opens the parent yet: keep watching
            a.task.train(model, a.data, seed=a.config.seed + r, progress=a.config.progress)
            plain = save_weights(model, submission_binding(a.deployment.relay, r, slot, a.address))
            key, nonce = crypto.new_model_key(), crypto.new_nonce()
            pinning = a.store.start_put(crypto.encrypt(plain, key, nonce))  # the CID now, the pin alongside the submission
            cid = pinning.cid
            (a.config.state_dir / "weights" / f"{cid}.safetensors").write_bytes(plain)
            mine.update({"slot": slot, "parent": parent_id, "cid": cid, "key": key.hex(), "nonce": nonce.hex(),
                         "pinned": False, "hash": crypto.weights_hash(plain).hex()})
            a.state.save()  # the trained model (and what rebuilds its ciphertext) is safe before any transaction
            self.log(f"round {r}: trained on {start}, pinning {cid}")
        key = bytes.fromhex(mine["key"])
        envelopes = [crypto.seal_key(key, self.client.public_key_of(e)) for e in self.client.evaluators(r)]
        self.client.submit(r, slot, bytes.fromhex(mine["hash"]), mine["cid"], envelopes)
        self.log(f"round {r}: submitted slot {slot}")
        self.finish_pin(r, mine, pinning)
        return True

    def starting_model(self, r: int, slot: int, parent_id: int) -> tuple[nn.Module | None, str]:
        """What `slot` trains from, opened with the keys delivered to it so far, and its
        name for the log: in a plain relay the parent model, in a merge relay a merge
        of the parent layer. None while no delivered key opens it; then the key holders
        are asked for one (except for the plain genesis, whose key only its owner has)."""
        if self.agent.deployment.merge_horizon:
            parent_layer = self.client.round_info(r).parent_layer
            deliveries = self.client.events("BundleDelivered", round=r, slot=slot)
            model = self.open_layer(r, self.client.layer(parent_layer), deliveries)
            start = f"a merge of layer {parent_layer}"  # the layer `derelayl status` names
        else:
            deliveries = self.key_deliveries(r, slot)
            model = self.open_parent(r, parent_id, deliveries)
            start = f"model {parent_id}"
        if model is None and (parent_id != 0 or self.agent.deployment.merge_horizon):
            self.request_key(r, slot, len(deliveries))  # the plain genesis key: only its owner holds it
        return model, start

    def finish_pin(self, r: int, mine: dict[str, Any], pinning: Pinning | None) -> None:
        """Waits for the pin started with the submission (`pinning`), or, without one (a
        pin that failed, or a restart), pins again the same ciphertext, rebuilt from the
        weights on disk with the kept key and nonce. A StorageError leaves the model
        marked unpinned: the next poll tries again."""
        if mine.get("pinned", True):
            return
        if pinning is not None:
            pinning.wait()
        else:
            plain = (self.agent.config.state_dir / "weights" / f"{mine['cid']}.safetensors").read_bytes()
            self.agent.store.put(crypto.encrypt(plain, bytes.fromhex(mine["key"]), bytes.fromhex(mine["nonce"])),
                                 expected=mine["cid"])
        mine["pinned"] = True
        self.agent.state.save()
        self.log(f"round {r}: pinned {mine['cid']}")

    def key_deliveries(self, r: int, slot: int) -> list[dict[str, Any]]:
        """Every key delivered to `slot`: the owner's, then the couriers'."""
        return self.client.events("KeyDelivered", round=r, slot=slot) + \
            self.client.events("KeyCouriered", round=r, slot=slot)

    def request_key(self, r: int, slot: int, delivery_count: int) -> None:
        """Asks the parent's key holders for its key, since none of the
        `delivery_count` keys delivered to `slot` opens the model (the owner, or a
        courier, sent a wrong one). Asks again only when a newer key fails too."""
        mine = self.agent.round_state(r)
        if mine.get("requested_after", 0) >= delivery_count:
            return  # asked already; waiting for a courier
        if self.agent.key_window_closed(self.client.round_info(r).courier_deadline):
            return  # too late for a courier: the contract would refuse the request
        self.client.request_key(r, slot)
        mine["requested_after"] = delivery_count
        self.agent.state.save()
        self.log(f"round {r}: asked the key holders for the parent's key (none of {delivery_count} opens it)")

    def open_parent(self, r: int, parent_id: int, deliveries: list[dict[str, Any]]) -> nn.Module | None:
        """The parent model, opened with the first of `deliveries` whose key matches its
        on-chain hash: the owner's, or a courier's (either could send a wrong one). None
        if none opens it. A key found wrong is not tried (nor the model fetched) again.
        The genesis opens with its published key, checked before bidding: the owner's
        delivery only lets the contract take the submission."""
        genesis_key = self.agent.deployment.published_genesis_key()
        if parent_id == 0 and genesis_key is not None:
            return self.fetch_model(0, genesis_key)
        return self.first_that_opens(
            r, deliveries, lambda envelope: self.fetch_model(parent_id, crypto.open_envelope(envelope, self.agent.keypair)),
            lambda delivery: f"the key of model {parent_id} from {delivery.get('courier', 'its owner')} does not open it")

    def open_layer(self, r: int, layer: list[int], deliveries: list[dict[str, Any]]) -> nn.Module | None:
        """In a merge relay: the merge (`ParticipantConfig.merge`) of every model of the
        parent `layer`, opened with the keys of the first of the bundles `deliveries`
        whose keys all open their models and match their on-chain hashes; None if none
        does. A bundle found wrong is not tried again. The genesis layer opens with its
        published key, checked before bidding, as in the plain relay."""
        genesis_key = self.agent.deployment.published_genesis_key()
        if layer == [0] and genesis_key is not None:
            return self.fetch_model(0, genesis_key)

        def merged(envelope: bytes) -> nn.Module:
            keys = crypto.open_bundle(envelope, self.agent.keypair, len(layer))
            models = [self.fetch_model(model_id, key) for model_id, key in zip(layer, keys)]
            models[0].load_state_dict(MERGES[self.agent.config.merge]([m.state_dict() for m in models]))
            return models[0]

        return self.first_that_opens(
            r, deliveries, merged,
            lambda delivery: f"the bundle from {delivery['holder']} does not open the parent layer")

    def first_that_opens(self, r: int, deliveries: list[dict[str, Any]], open_with: Callable[[bytes], nn.Module],
                         failure: Callable[[dict[str, Any]], str]) -> nn.Module | None:
        """`open_with` of the envelope of the first of `deliveries` it opens (a
        DecryptionError: it does not); each failure logged (`failure` says what failed)
        and its envelope never tried again. None if none opens."""
        for delivery in deliveries:
            envelope = bytes(delivery["envelope"])
            if envelope in self._wrong_envelopes:
                continue
            try:
                return open_with(envelope)
            except crypto.DecryptionError as exc:
                self._wrong_envelopes.add(envelope)
                self.log(f"round {r}: {failure(delivery)} ({exc})")
        return None

    def fetch_model(self, model_id: int, key: bytes) -> nn.Module:
        """Fetches, decrypts, checks and loads model `model_id` (never unchecked bytes),
        to train on: the participant now holds its layer."""
        a = self.agent
        plain = a.open_model(model_id, key)
        a.state.data["own_version"] = max(a.state.data["own_version"], self.client.model(model_id).layer)
        return load_weights(a.task, plain)
