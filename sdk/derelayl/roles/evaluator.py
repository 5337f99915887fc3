"""The evaluator: stakes for a seat, scores every submission of its round on its own
test data with the task's metric, commits then reveals its scores, and takes back
the stake of a round whose draw left it out. Because each trainer seals its model's
key to the round's evaluators, an evaluator also holds the keys of the models it
scored: it couriers them (and offers them) when their owners do not. In a merge relay
(docs/merge.md) the evaluators of the round that accepted a layer are its key holders:
they bundle every key of the layer to each slot of the rounds that start from it.
"""

from __future__ import annotations

import os

from derelayl import crypto
from derelayl.commitment import score_commitment
from derelayl.participant import closer_rank
from derelayl.params import SCORE_SCALE, TOKEN
from derelayl.roles import Role
from derelayl.roles.trainer import submission_binding
from derelayl.types import EvaluatorView, Phase, Slot
from derelayl.weights import load_weights, weights_metadata


class EvaluatorRole(Role):
    """Stakes, scores, commits, reveals; couriers the keys it holds."""

    def __init__(self, agent) -> None:
        super().__init__(agent)
        self._scored_keys: dict[int, bytes | None] = {}  # model id -> its key, if this evaluator scored it
        self._short_of_tokens: set[int] = set()  # rounds in which it said it cannot stake

    def every_step(self, r: int, phase: Phase) -> None:
        self.reclaim_undrawn_stakes(r, phase)

    # ------------------------------------------------------------- bidding

    def bidding(self, r: int) -> bool:
        if not self.client.evaluator_state(r, self.agent.address).staked and self.can_stake(r):
            self.client.stake_evaluator(r)
            self.agent.round_state(r)["staked"] = True
            self.agent.state.save()
            self.log(f"round {r}: staked as evaluator (joins the pool the round's evaluators are drawn from)")
        if self.agent.deployment.merge_horizon:
            return True  # nobody offers in a merge relay
        return self.courier_offers(r)

    def can_stake(self, r: int) -> bool:
        """Whether the stake can be locked: from credit first, then the wallet (which
        it approves the relay to draw from). Says so once a round when it cannot."""
        a = self.agent
        stake = a.params.evaluator_stake
        credit, wallet = self.client.credit_of(a.address), self.client.wallet_of(a.address)
        if credit + wallet < stake:
            if r not in self._short_of_tokens:
                self._short_of_tokens.add(r)
                self.log(f"round {r}: cannot stake: holds {credit / TOKEN:.2f} DRL of credit and "
                         f"{wallet / TOKEN:.2f} in its wallet, needs {stake / TOKEN:.2f} to stake "
                         f"(on a dev chain: `derelayl deploy --allocate {a.address}=100`)")
            return False
        if credit < stake and self.client.allowance_of(a.address) < stake - credit:
            self.client.approve(stake - credit)
        return True

    def courier_offers(self, r: int) -> bool:
        """For each model of the layer that nobody offered in the round before (same
        layer: its owner went away), offers at price 0 each such model it scored in the
        round that accepted it and that nobody offered by half-time of Bidding: owners
        who left cannot stop the relay. Done (True) once no such model is waiting."""
        info = self.client.round_info(r)
        if r == 0 or self.client.round_info(r - 1).parent_layer != info.parent_layer:
            return True  # the owners' first round: couriers may not offer (RelayOwnersStillActive)
        offered = {o.model_id for o in self.client.offers(r)}
        offered |= {o.model_id for o in self.client.offers(r - 1)}  # its owner may be active
        waiting = False
        for model_id in self.client.layer(info.parent_layer):
            if model_id in offered or model_id == 0 or self.key_of_scored_model(model_id) is None:
                continue
            if not self.agent.past_half_time(info):
                waiting = True  # the owner's turn first
                continue
            self.client.courier_offer(r, model_id)
            self.log(f"round {r}: offered model {model_id} in place of its owner, who had not")
        return not waiting

    def reclaim_undrawn_stakes(self, current: int, phase: Phase) -> None:
        """Takes back the stake of every round whose draw left this evaluator out: the
        contract keeps it until its staker asks (`reclaimStake`). The rounds come from
        the state folder, so a participant restarted rounds later still reclaims."""
        a = self.agent
        for key, mine in a.state.data["rounds"].items():
            r = int(key)
            if not mine.get("staked") or (r == current and phase == Phase.BIDDING):
                continue  # no stake waiting, or the draw is still to come
            if self.drawn(r):
                self.log(f"round {r}: drawn to evaluate")
            elif self.client.evaluator_state(r, a.address).staked:
                self.client.reclaim_stake(r)
                self.log(f"round {r}: not drawn to evaluate; took the stake back")
            del mine["staked"]
            a.state.save()

    # ------------------------------------------------------------ training

    def training(self, r: int) -> bool:
        if self.agent.deployment.merge_horizon:
            return self.deliver_bundles(r)
        return self.courier_keys(r)

    def deliver_bundles(self, r: int) -> bool:
        """In a merge relay, as a key holder of round `r`'s parent layer (a drawn
        evaluator of the round that accepted it): bundles its keys to the slots
        (`Role.bundle_slots`). The holders take turns (`closer_rank`, a fresh order each
        round); a one-model layer's creator bundles first (`TrainerRole.deliver_bundles`),
        so there every evaluator waits for half-time."""
        info = self.client.round_info(r)
        layer = self.client.layer(info.parent_layer)
        if 0 in layer:
            return True  # the genesis: its owner alone holds the key
        keys = [self.key_of_scored_model(model_id) for model_id in layer]
        if any(key is None for key in keys):
            return True  # not a holder of this layer
        holders = self.client.evaluators(self.client.model(layer[0]).round)
        a = self.agent
        first = len(layer) > 1 and closer_rank(a.deployment.relay, r, Phase.TRAINING, a.address, holders) == 0
        return self.bundle_slots(r, keys, first, f"the {len(keys)} keys of layer {info.parent_layer}")

    def courier_keys(self, r: int) -> bool:
        """Delivers the key of a model it scored (in the round that accepted it) to each
        trainer of round `r` that needs it: one whose MO has not delivered by half-time
        of the Training phase, or one that asked (`KeyRequested`) because the key it got
        does not open the model. Withholding or cheating owners then cannot stop the
        relay or cost the trainer its bid. Each slot gets this evaluator's key once.
        Done (True) once every slot it could serve is submitted or served: until then a
        request may still come."""
        a = self.agent
        info = self.client.round_info(r)
        if a.key_window_closed(info.courier_deadline):
            return True  # too late: couriers' keys are taken in the first three quarters only
        mine = a.round_state(r).setdefault("couriered", [])
        requested = {e["slot"] for e in self.client.events("KeyRequested", round=r)}
        waiting = False
        for slot, s in enumerate(self.client.slots(r)):
            if s.submitted or slot in mine or s.parent_id == 0:
                continue
            key = self.key_of_scored_model(s.parent_id)
            if key is None:
                continue  # not a model this evaluator scored
            asked = slot in requested
            if not asked and (s.delivered or not a.past_half_time(info)):
                waiting = True  # the owner's turn first; a delivered key may yet fail
                continue
            self.client.courier_key(r, slot, crypto.seal_key(key, self.client.public_key_of(s.trainer)))
            mine.append(slot)
            a.state.save()
            why = "its trainer asked: the key it got does not open it" if asked else "its owner had not"
            self.log(f"round {r}: couriered the key of model {s.parent_id} to slot {slot} ({why})")
        return not waiting

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
        if self.agent.address not in evaluators:
            return None
        envelopes = self.agent.event_arg("ModelSubmitted", "envelopes", round=model.round, slot=model.slot)
        try:
            return crypto.open_envelope(envelopes[evaluators.index(self.agent.address)], self.agent.keypair)
        except crypto.DecryptionError as exc:
            self.log(f"model {model_id}: the key sealed to this evaluator does not open ({exc})")
            return None

    # ------------------------------------------------------------- testing

    def committing(self, r: int) -> bool:
        """Scores every submission (scores and salt saved before the commitment is
        sent), then commits."""
        a = self.agent
        state = self.evaluator_state(r)
        if not state.staked or state.committed:
            return True
        mine = a.round_state(r)
        if "salt" not in mine:
            index = self.client.evaluators(r).index(a.address)
            scores = [self.score_slot(r, slot, s, index) if s.submitted else 0
                      for slot, s in enumerate(self.client.slots(r))]
            mine.update({"scores": scores, "salt": os.urandom(32).hex()})
            a.state.save()  # scores and salt are safe before the commitment is sent
        commitment = score_commitment(a.w3.eth.chain_id, a.deployment.relay, r, a.address,
                                      mine["scores"], bytes.fromhex(mine["salt"]))
        self.client.commit(r, commitment)
        self.log(f"round {r}: committed scores {[round(x / SCORE_SCALE, 3) for x in mine['scores']]}")
        return True

    def evaluator_state(self, r: int) -> EvaluatorView:
        """This evaluator's state in round `r`, `staked` only if it was drawn to a seat
        (a staker the draw left out has nothing to score)."""
        state = self.client.evaluator_state(r, self.agent.address)
        if state.staked and not self.drawn(r):
            return EvaluatorView(False, state.committed, state.revealed, state.commitment)
        return state

    def drawn(self, r: int) -> bool:
        """Whether the draw of round `r` seated this evaluator (after bidding closed)."""
        return self.agent.address in self.client.evaluators(r)

    def score_slot(self, r: int, slot: int, s: Slot, index: int) -> int:
        """The task's metric of the model submitted to `slot`, on this evaluator's data;
        0 for a submission it cannot use (a key that does not open it, weights that do
        not match their hash or are bound to another slot, or do not fit the model)."""
        a = self.agent
        envelopes = a.event_arg("ModelSubmitted", "envelopes", round=r, slot=slot)
        try:
            key = crypto.open_envelope(envelopes[index], a.keypair)
            plain = crypto.decrypt(a.store.get(s.cid), key)
            if crypto.weights_hash(plain) != s.weights_hash:
                raise crypto.DecryptionError("weights do not match the submitted sha256")
            expected = submission_binding(a.deployment.relay, r, slot, s.trainer)
            found = {k: v for k, v in weights_metadata(plain).items() if k in expected}
            if found != expected:
                raise crypto.DecryptionError(f"weights bound to {found or 'nothing'}, not to this slot: a copy")
            model = load_weights(a.task, plain)
        except Exception as exc:  # noqa: BLE001 - any unusable submission scores 0
            self.log(f"round {r}: slot {slot} unusable ({exc}); scored 0")
            return 0
        score = a.task.evaluate(model, a.data)
        return round(min(max(score, 0.0), 1.0) * SCORE_SCALE)

    # ----------------------------------------------------------- revealing

    def revealing(self, r: int) -> bool:
        a = self.agent
        state = self.evaluator_state(r)
        mine = a.round_state(r)
        if state.committed and not state.revealed and "salt" in mine:
            self.client.reveal(r, mine["scores"], bytes.fromhex(mine["salt"]))
            self.log(f"round {r}: revealed")
        return True
