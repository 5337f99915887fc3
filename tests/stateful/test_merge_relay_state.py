"""Random walks through the merge relay (MergeRelayLearning), checked step by step
against `RelayProtocol(merge_horizon=...)`: the walks of test_relay_state.py, with the
same invariants after every step (conservation, every credit and wallet, every
account's books, no honest account worse off), where keys come as bundles from the
parent layer's key holders and lineage is counted by brute force the merge relay's
way: a model has earned one unit per accepted model of the `merge_horizon` layers
after its own, up to where a fallback gave its layer up. Owners still try to offer
and deliver keys, which both refuse."""

from __future__ import annotations

from collections import Counter

from test_relay_state import ENVELOPE, MOSTLY, N, SLOT, WHO, RelayWalk, play_walks, report, step

HORIZON = 3


class MergeRelayWalk(RelayWalk):
    """RelayWalk on a merge relay: bundles in place of owners' keys and couriers."""

    coverage: Counter = Counter()
    deepest = {"round": 0, "models": 0}
    merge_horizon = HORIZON

    @step(weight=4, slot=SLOT, honest=MOSTLY)
    def deliver(self, slot, honest):
        """A key holder of the parent layer bundles its keys to a slot without them
        (honest), or anyone tries; now and then an owner tries its own key (refused)."""
        m, r = self.model, self.model.round
        if honest:
            slot = self.pending_slot(slot, lambda s: not s.delivered)
        holders = m.bundle_holders(m.rounds[r].parent_layer)
        if not honest and slot % 3 == 0:
            a = self.slot_actor(slot, "owner")
            self.both(a, "deliverKey", (r, slot, ENVELOPE), lambda tx: m.deliver_key(a.address, r, slot, ENVELOPE))
            return
        a = self.by_address(holders[slot % len(holders)]) if honest and holders else self.who(slot % N)
        self.both(a, "deliverBundle", (r, slot, ENVELOPE), lambda tx: m.deliver_bundle(a.address, r, slot, ENVELOPE))

    @step(weight=2, slot=SLOT, who=WHO, honest=MOSTLY)
    def courier(self, slot, who, honest):
        """The trainer's bundle does not open every model: it asks (requestKey) and
        another holder bundles again (honest); or someone without the keys tries."""
        m, r = self.model, self.model.round
        slot = self.pending_slot(slot, lambda s: s.delivered and not s.submitted)
        slots = m.rounds[r].slots
        holders = m.bundle_holders(m.rounds[r].parent_layer)
        if honest and slot < len(slots):
            trainer = self.by_address(slots[slot].trainer)
            self.both(trainer, "requestKey", (r, slot), lambda tx: m.request_key(trainer.address, r, slot))
        a = self.by_address(holders[who % len(holders)]) if honest and holders else self.who(who)
        self.both(a, "deliverBundle", (r, slot, ENVELOPE), lambda tx: m.deliver_bundle(a.address, r, slot, ENVELOPE))

    @step(slot=SLOT)
    def lazy_submit(self, slot):
        """A trainer submits a model of the parent layer unchanged: a merge relay has no
        single parent to refuse it against, so it is accepted, as a copy, and the
        trainer no longer counts as honest."""
        m, r = self.model, self.model.round
        slot = self.pending_slot(slot, lambda s: s.delivered and not s.submitted)
        slots = m.rounds[r].slots
        a = self.slot_actor(slot, "trainer")
        h = m.models[slots[slot].parent_id].weights_hash if slot < len(slots) else b"\x05" * 32
        envelopes = [ENVELOPE] * len(m.rounds[r].evaluators)
        if self.both(a, "submit", (r, slot, h, "QmLazy", envelopes),
                     lambda tx: m.submit(a.address, r, slot, h, "QmLazy", envelopes)):
            self.cheaters.add(a.address)

    def note_withholders(self) -> None:
        """Owners deliver nothing in a merge relay: a slot without a bundle gets its bid
        back, and nobody pays a remedy."""

    def lineage_units(self, m) -> int:
        """One unit per accepted model of the layers after m's, up to its horizon, the
        newest layer, and the layer before the fallback that gave m's layer up (from the
        chain's RelayFellBack events)."""
        model = self.model
        last = min(len(model.layers) - 1, m.layer + HORIZON)
        for frontier, fallback_layer in self.fell_back:
            if model.model_layer(frontier) == m.layer:
                last = min(last, fallback_layer - 1)
        return sum(1 for other in model.models if m.layer < other.layer <= last)


def test_random_walks_of_the_merge_relay_match_the_protocol_model(state_machine_settings):
    play_walks(MergeRelayWalk, state_machine_settings)
    coverage = MergeRelayWalk.coverage
    report(f"merge relay stateful coverage: {dict(sorted(coverage.items()))} {MergeRelayWalk.deepest}")
    for name in ["bid", "closeBidding", "deliverBundle", "submit", "commit", "reveal", "settle", "claim",
                 "withdraw", "reclaimStake", "offer:RelayPlainRelayOnly", "requestKey"]:
        assert coverage.get(name, 0) > 0, f"no {name} in the merge relay's random walks"
    assert MergeRelayWalk.deepest["models"] >= 2, "no walk accepted a model: lineage went untested"
