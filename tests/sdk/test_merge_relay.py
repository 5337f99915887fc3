"""The merge relay in `RelayProtocol` (`merge_horizon` > 0, docs/merge.md): no offers
and no prices, slots for the highest bids up to k per model of the parent layer, key
bundles from the layer's key holders, no parent-relative floor, and lineage rewards
split equally per layer within the horizon, claimed in O(1). The plain relay's rules
are held to the contract by the differential test; these check the merge relay's."""

from __future__ import annotations

import random

import pytest

from derelayl import SCORE_SCALE, TEST_PARAMS, TOKEN, RelayProtocol
from derelayl.errors import ConfigurationError, ProtocolRevert
from derelayl.protocol import MAX_BUNDLE_LENGTH, Phase, SlotOutcome

OWNER = "0x" + "aa" * 20
TRAINERS = [f"0x{0x100 + i:040x}" for i in range(12)]
EVALUATORS = [f"0x{0x200 + i:040x}" for i in range(3)]
PARAMS = TEST_PARAMS.replace(k=2, max_trainers=12, max_evaluators=3, quorum=1, evaluator_stake=TOKEN,
                             evaluator_reward=0, selection_permille=1000, lineage_reward=10 * TOKEN)
BUNDLE = b"\x05" * 100


def relay(params=PARAMS, horizon: int = 3, credit: int = 10 * TOKEN) -> RelayProtocol:
    p = RelayProtocol(params, OWNER, allocations={a: credit for a in [OWNER, *TRAINERS, *EVALUATORS]},
                      merge_horizon=horizon)
    for a in [OWNER, *TRAINERS, *EVALUATORS]:
        p.register_key(a, b"\x01" * 32)
    return p


def open_round(p: RelayProtocol, bids: dict[str, int], seed: bytes = b"\x07" * 32) -> None:
    r = p.round
    for trainer, amount in bids.items():
        p.bid(trainer, r, amount)
    for e in EVALUATORS:
        p.stake_evaluator(e, r)
    p.close_bidding(seed)


def play(p: RelayProtocol, bids: dict[str, int], scores: dict[str, int] | None = None,
         undelivered: frozenset[str] = frozenset(), unsubmitted: frozenset[str] = frozenset()):
    """One round: every slot gets its bundle from the first holder and submits (but
    those in `undelivered` and `unsubmitted`); every evaluator scores each submitted
    model by its trainer (`scores`, default 0.5)."""
    r = p.round
    open_round(p, bids)
    rs = p.rounds[r]
    holder = p.bundle_holders(rs.parent_layer)[0]
    for i, s in enumerate(rs.slots):
        if s.trainer not in undelivered:
            p.deliver_bundle(holder, r, i, BUNDLE)
            if s.trainer not in unsubmitted:
                p.submit(s.trainer, r, i, bytes([i + 1]) * 32, "cid", [b"\x01"] * len(rs.evaluators))
    if rs.phase == Phase.TRAINING:
        p.close_training()  # with nothing submitted, Committing closes at once too
    values = [(scores or {}).get(s.trainer, SCORE_SCALE // 2) for s in rs.slots]
    if rs.submitted_count:
        for e in rs.evaluators:
            p.commit(e, r, p.commitment_for(r, e, values, b"\x09" * 32))
        for e in rs.evaluators:
            p.reveal(e, r, values, b"\x09" * 32)
    return p.settle()


def test_owners_do_not_offer_and_the_highest_bids_take_k_slots_per_model_of_the_layer():
    p = relay()
    with pytest.raises(ProtocolRevert, match="RelayPlainRelayOnly") as exc:
        p.offer(OWNER, 0, 0)
    assert exc.value.args_ == ("offer",)
    with pytest.raises(ProtocolRevert, match="RelayOwnerCannotBid"):
        p.bid(OWNER, 0, 1)
    open_round(p, {TRAINERS[0]: 3, TRAINERS[1]: 5, TRAINERS[2]: 4})
    slots = p.rounds[0].slots
    assert [(s.trainer, s.bid, s.price, s.parent_id) for s in slots] == [(TRAINERS[1], 5, 0, 0), (TRAINERS[2], 4, 0, 0)]
    assert p.credit[TRAINERS[0]] == 10 * TOKEN  # the bid left out came back
    assert p.locked == 5 + 4 + 3 * TOKEN  # two bids and the stakes; no owner deposit


def test_a_layer_of_m_models_gives_k_times_m_slots_that_all_start_from_the_layer():
    p = relay()
    first = play(p, {t: 1 for t in TRAINERS[:2]})
    assert len(first.accepted_models) == 2
    layer = p.layers[1]
    for owner in (p.models[m].creator for m in layer):
        with pytest.raises(ProtocolRevert, match="RelayOwnerCannotBid"):
            p.bid(owner, 1, 1)
    open_round(p, {t: 1 for t in TRAINERS[2:8]})
    slots = p.rounds[1].slots
    assert len(slots) == 4  # k = 2 per model, 2 models: 4 of the 6 bids
    assert {s.parent_id for s in slots} == {layer[0]}  # the layer, named by its first model


def test_only_the_layers_key_holders_deliver_a_bundle():
    p = relay()
    open_round(p, {TRAINERS[0]: 1, TRAINERS[1]: 0})  # slot 0: trainer 0
    # The genesis is a layer of one model: its creator holds every key.
    assert p.bundle_holders(0) == [OWNER]
    with pytest.raises(ProtocolRevert, match="RelayPlainRelayOnly"):
        p.deliver_key(OWNER, 0, 0, b"\x01")
    with pytest.raises(ProtocolRevert, match="RelayPlainRelayOnly"):
        p.courier_key(OWNER, 0, 0, b"\x01")
    with pytest.raises(ProtocolRevert, match="RelayKeyNotDelivered"):
        p.submit(TRAINERS[0], 0, 0, b"\x02" * 32, "cid", [b"\x01"] * 3)
    with pytest.raises(ProtocolRevert, match="RelayNotKeyHolder"):
        p.deliver_bundle(TRAINERS[1], 0, 0, BUNDLE)
    with pytest.raises(ProtocolRevert, match="RelayEmptyEnvelope"):
        p.deliver_bundle(OWNER, 0, 0, b"")
    with pytest.raises(ProtocolRevert, match="RelayEnvelopeTooLong"):
        p.deliver_bundle(OWNER, 0, 0, b"\x01" * (MAX_BUNDLE_LENGTH + 1))
    p.deliver_bundle(OWNER, 0, 0, b"\x01" * MAX_BUNDLE_LENGTH)
    p.request_key(TRAINERS[0], 0, 0)  # the bundle did not open every model: another one comes
    p.deliver_bundle(OWNER, 0, 0, BUNDLE)
    # The genesis' own hash is no parent to refuse: the slot started from a merge.
    p.submit(TRAINERS[0], 0, 0, p.models[0].weights_hash, "cid", [b"\x01"] * 3)
    with pytest.raises(ProtocolRevert, match="RelayAlreadySubmitted"):
        p.deliver_bundle(OWNER, 0, 0, BUNDLE)


def test_a_layer_of_several_models_is_delivered_by_the_evaluators_that_accepted_it():
    p = relay()
    play(p, {t: 0 for t in TRAINERS[:2]})
    assert p.bundle_holders(1) == sorted(EVALUATORS)  # a creator holds only its own key
    open_round(p, {TRAINERS[2]: 0})
    with pytest.raises(ProtocolRevert, match="RelayNotKeyHolder"):
        p.deliver_bundle(p.models[p.layers[1][0]].creator, 1, 0, BUNDLE)
    p.deliver_bundle(EVALUATORS[2], 1, 0, BUNDLE)


def test_the_plain_relay_refuses_a_bundle():
    p = RelayProtocol(PARAMS, OWNER)
    assert not p.merging
    with pytest.raises(ProtocolRevert, match="RelayMergeRelayOnly"):
        p.deliver_bundle(OWNER, 0, 0, BUNDLE)
    with pytest.raises(ConfigurationError, match="merge_horizon"):
        RelayProtocol(PARAMS, OWNER, merge_horizon=-1)


def test_bids_come_back_when_accepted_or_undelivered_and_burn_when_rejected_or_not_submitted():
    p = relay(PARAMS.replace(score_floor=300_000, k=4))
    bids = {t: TOKEN for t in TRAINERS[:4]}
    scores = {TRAINERS[0]: 900_000, TRAINERS[1]: 100_000}  # trainer 1 under the floor
    settlement = play(p, bids, scores, undelivered=frozenset({TRAINERS[2]}), unsubmitted=frozenset({TRAINERS[3]}))
    by_trainer = {p.rounds[0].slots[i].trainer: outcome for i, (outcome, _) in settlement.outcomes.items()}
    assert by_trainer == {TRAINERS[0]: SlotOutcome.ACCEPTED, TRAINERS[1]: SlotOutcome.REJECTED,
                          TRAINERS[2]: SlotOutcome.UNDELIVERED, TRAINERS[3]: SlotOutcome.NOT_SUBMITTED}
    assert [p.credit[t] for t in TRAINERS[:4]] == [10 * TOKEN, 9 * TOKEN, 10 * TOKEN, 9 * TOKEN]
    assert p.burned == 2 * TOKEN and p.locked == 0
    assert p.credit[OWNER] == 10 * TOKEN  # no owner deposit, no remedy: the owner is not in the round


def test_there_is_no_parent_relative_floor():
    """A child far below the genesis' score is accepted: every child started from a
    merge, not from one parent whose score it could be measured against."""
    p = relay(PARAMS.replace(floor_margin=0, score_floor=0))
    p.models[0].score = SCORE_SCALE
    settlement = play(p, {TRAINERS[0]: 0}, {TRAINERS[0]: 1})
    assert len(settlement.accepted_models) == 1


def test_lineage_is_split_equally_within_the_horizon_and_claimed_whatever_max_layers():
    p = relay(horizon=2)
    reward = PARAMS.lineage_reward
    play(p, {t: 0 for t in TRAINERS[:2]})                 # layer 1: 2 models
    play(p, {t: 0 for t in TRAINERS[2:6]})                # layer 2: 4 models (k 2 x 2)
    play(p, {t: 0 for t in [*TRAINERS[:2], *TRAINERS[6:12]]})  # layer 3: 8 models
    assert [len(layer) for layer in p.layers] == [1, 2, 4, 8]
    genesis, first, second = 0, p.layers[1][0], p.layers[2][0]
    # Units: the later accepted models that pay a layer, whose reward its models share.
    assert p.claimable(genesis, 1) == (2 + 4, True)  # layers 1 and 2: the horizon ends there
    assert p.claimable(first, 1) == (4 + 8, True)
    assert p.claimable(second, 1) == (8, True)
    assert p.lineage_outlook(genesis) == (6, True)
    assert p.lineage_outlook(second) == (8, False)  # layers 4 and 5 may still pay it
    before = p.credit[OWNER]
    assert p.claim(genesis, 1) == 6
    assert p.credit[OWNER] == before + 6 * reward and p.models[genesis].lineage_ended
    assert p.models[genesis].claimed_units == 6
    with pytest.raises(ProtocolRevert, match="RelayNothingToClaim"):
        p.claim(genesis, 64)
    with pytest.raises(ProtocolRevert, match="RelayZeroAmount"):
        p.claim(first, 0)
    creator = p.models[first].creator
    assert creator in {p.models[m].creator for m in p.layers[3]}  # its layer-3 model has earned nothing yet
    assert p.lineage_owed(creator) == 12 * reward // 2
    assert p.claim(first, 64) == 12 and p.credit[creator] - 10 * TOKEN == 6 * reward


def test_a_fallback_cuts_the_layer_given_up_and_the_layer_before_keeps_earning():
    p = relay(PARAMS.replace(fallback_rounds=1, score_floor=500_000), horizon=5)
    reward = PARAMS.lineage_reward
    play(p, {t: 0 for t in TRAINERS[:2]})  # layer 1: 2 models
    play(p, {TRAINERS[2]: 0}, {TRAINERS[2]: 0})  # nothing accepted: fall back from layer 1 to the genesis
    assert p.rounds[2].parent_layer == 2 and p.layer_of(2) == [0]
    assert p.lineage_outlook(p.layers[1][0]) == (0, True)  # given up: earns nothing more
    play(p, {TRAINERS[3]: 0})  # layer 3: one child of the genesis, offered again
    assert p.claimable(0, 1) == (2 + 1, True)
    assert p.claimable(p.layers[1][0], 1) == (0, True)


def test_tokens_are_conserved_and_no_layer_is_paid_more_than_its_descendants_owe():
    """A random walk of merge rounds: random bids, missing bundles and submissions,
    scores around a floor, random claims and fallbacks."""
    rng = random.Random(5)
    for walk in range(20):
        params = PARAMS.replace(k=rng.randint(1, 3), fallback_rounds=rng.choice([0, 1, 2]),
                                score_floor=rng.choice([0, 400_000]), selection_permille=rng.choice([500, 1000]),
                                evaluator_reward=rng.choice([0, TOKEN // 10]))
        p = relay(params, horizon=rng.randint(1, 4), credit=3 * TOKEN)
        supply, minted = p.total_supply, p.minted
        for _ in range(12):
            owners = set(p.owner_models[p.model_layer(p.rounds[p.round].parent_layer)])
            bidders = [t for t in TRAINERS if t not in owners and rng.random() < 0.7]
            bids = {t: min(rng.choice([0, TOKEN // 2, TOKEN]), p.credit[t]) for t in bidders}
            play(p, bids, {t: rng.randrange(SCORE_SCALE) for t in bidders},
                 undelivered=frozenset(t for t in bidders if rng.random() < 0.1),
                 unsubmitted=frozenset(t for t in bidders if rng.random() < 0.1))
            for m in p.models:
                if rng.random() < 0.3 and p.claimable(m.model_id, 1)[0]:
                    p.claim(m.model_id, 1)
            assert p.locked == 0
            assert p.total_supply == supply + p.minted - minted - p.burned
            assert p.contract_balance == sum(p.credit.values())
        lineage = p.merge_lineage
        for layer, size in enumerate(lineage.sizes):
            owed = (lineage.cumulative[lineage.last_paying(layer)] - lineage.cumulative[layer]) * lineage.lineage_reward
            paid = sum(lineage.earned(layer, i) for i in range(size))
            assert owed - size < paid <= owed or size == 0, (walk, layer)
