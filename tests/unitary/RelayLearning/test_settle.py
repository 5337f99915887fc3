"""settle: medians, selection, refunds, forfeits, evaluator rewards and penalties."""

import os

from conftest import (assert_closes_only_after_deadline, ENVELOPE, cid_of, reverts, sleep_past_deadline, submitted_cids,
                      timed_relay, weights_hash)

from derelayl import TOKEN
from derelayl.protocol import slot_tie_key


def test_settle_accepts_top_half_and_pays(relay, token, revealed, genesis_owner, trainers, evaluators, params):
    supply = token.totalSupply()
    tx = relay.settle({"from": trainers[5]})
    accepted = tx.events["ModelAccepted"]
    assert len(accepted) == 1
    assert accepted[0]["creator"] == trainers[0] and accepted[0]["score"] == 850_000
    assert accepted[0]["parentId"] == 0 and accepted[0]["layer"] == 1
    outcomes = {e["slot"]: e["outcome"] for e in tx.events["SlotSettled"]}
    assert outcomes == {0: 0, 1: 1}  # Accepted, Rejected
    assert relay.creditOf(trainers[0]) == 100 * TOKEN  # bid refunded
    assert relay.creditOf(trainers[1]) == 98 * TOKEN  # bid of 2 burned
    assert relay.creditOf(genesis_owner) == 99 * TOKEN  # slot 0 refunded, slot 1 burned
    reward = 2 * params.evaluator_reward
    for e in evaluators[:2]:
        assert relay.creditOf(e) == 100 * TOKEN + reward
    assert token.totalSupply() == supply - 3 * TOKEN + 2 * reward
    assert relay.totalLocked() == 0


def test_settle_starts_next_round_with_new_owners(relay, revealed, trainers):
    relay.settle({"from": trainers[5]})
    assert relay.currentRound() == 1
    assert relay.roundInfo(1)["parentLayer"] == 1
    assert tuple(relay.currentModelOf(trainers[0])) == (True, 1)
    assert relay.roundInfo(0)["phase"] == 4  # Settled
    model = relay.modelOf(1)
    assert model["creator"] == trainers[0] and model["round"] == 0
    assert submitted_cids(relay, model["round"], model["slot"]) == [cid_of(0)]  # model 1's weights


def test_settle_penalizes_commit_without_reveal(relay, token, committed, evaluators, params):
    e0, e1 = evaluators[:2]
    relay.reveal(0, committed.scores[e0], committed.salts[e0], {"from": e0})
    relay.settle({"from": e0})  # reveal duration 0: closable at once
    penalty = params.evaluator_stake * params.evaluator_penalty_permille // 1000
    assert relay.creditOf(e1) == 100 * TOKEN - penalty
    assert relay.creditOf(e0) == 100 * TOKEN + 2 * params.evaluator_reward


def test_settle_refunds_models_without_quorum(relay, committed, genesis_owner, trainers):
    tx = relay.settle({"from": trainers[5]})  # nobody revealed
    assert {e["outcome"] for e in tx.events["SlotSettled"]} == {2}  # NoQuorum
    assert tx.events["RoundSettled"]["carriedOver"] is True
    assert relay.creditOf(trainers[0]) == 100 * TOKEN
    assert relay.creditOf(genesis_owner) == 100 * TOKEN
    assert tuple(relay.currentModelOf(genesis_owner)) == (True, 0)  # the baton stays


def test_settle_forfeits_bid_of_trainer_that_never_submitted(relay, delivered, matched, genesis_owner, trainers):
    relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE] * 2, {"from": matched[0]["trainer"]})
    relay.closeTraining({"from": trainers[5]})
    relay.closeCommit({"from": trainers[5]})
    tx = relay.settle({"from": trainers[5]})
    outcomes = {e["slot"]: e["outcome"] for e in tx.events["SlotSettled"]}
    assert outcomes[1] == 3  # NotSubmitted
    assert relay.creditOf(matched[1]["trainer"]) == 98 * TOKEN
    assert tx.events["Forfeited"][0]["amount"] == 2 * TOKEN


def test_settle_breaks_score_ties_with_the_seed(relay, submitted, evaluators, trainers):
    salt = os.urandom(32)
    e = evaluators[0]
    relay.commit(0, relay.commitmentFor(0, e, [700_000, 700_000], salt), {"from": e})
    relay.closeCommit({"from": e})
    relay.reveal(0, [700_000, 700_000], salt, {"from": e})
    tx = relay.settle({"from": trainers[5]})
    seed = bytes(relay.roundInfo(0)["seed"])
    winner = max([0, 1], key=lambda i: slot_tie_key(seed, i))
    assert tx.events["ModelAccepted"][0]["slot"] == winner


def test_settle_reverts_in_wrong_phase(relay, submitted, trainers):
    with reverts("RelayWrongPhase"):
        relay.settle({"from": trainers[5]})


def test_settle_reverts_before_reveal_deadline(deployer, genesis_owner, trainers, evaluators, params):
    timed = timed_relay(deployer, genesis_owner, trainers[0], evaluators[0], params, "committing", reveal_duration=3600)
    timed.commit(0, b"\x01" * 32, {"from": evaluators[0]})
    assert_closes_only_after_deadline(timed, "settle", trainers[0])
    assert timed.currentRound() == 1


# ---------------------------------------------------------- the acceptance floor (issue 17)

def test_a_model_nobody_could_open_is_never_accepted(deployer, genesis_owner, trainers, evaluators, params):
    """Classes 5 and 6 (issue 17). Before: acceptance was relative only (the top
    fraction, at least one), so a submission whose key envelopes were garbage, scored
    0 by every evaluator (they cannot open it), was accepted at a median of 0 when
    nothing outranked it: its owner alone held its key, the relay froze on it, and
    identities holding every slot farmed lineage rewards on such garbage. Now a model
    is accepted only at or above the task's floor: the garbage is Rejected, its
    deposit burns, the genesis owner stays the owner and the relay carries over."""
    from scripts.deploy import deploy
    from scripts.relay import RoundScript, play_round

    _, relay = deploy(deployer, params.replace(score_floor=10_000), genesis_owner,
                      {a: 100 * TOKEN for a in [genesis_owner, *trainers, *evaluators]})
    result = play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[0]: TOKEN},
                                           evaluators=evaluators[:2], score=lambda e, slot, trainer: 0), genesis_owner)
    assert result.outcomes == {0: "Rejected"} and result.accepted == []
    assert relay.layerCount() == 1 and relay.roundInfo(1)["parentLayer"] == 0  # carried over
    assert relay.creditOf(trainers[0]) == 99 * TOKEN  # the garbage's deposit burned
    # An honest model clears the floor and is accepted.
    result = play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[1]: 0},
                                           evaluators=evaluators[:2]), genesis_owner)
    assert result.outcomes == {0: "Accepted"}


def test_a_child_far_below_its_parent_is_not_accepted(deployer, genesis_owner, trainers, evaluators, params):
    """The relative floor: a model must score at least its parent's score less
    `floorMargin`, even when it ranks first among this round's models."""
    from scripts.deploy import deploy
    from scripts.relay import RoundScript, play_round

    _, relay = deploy(deployer, params.replace(floor_margin=100_000), genesis_owner,
                      {a: 100 * TOKEN for a in [genesis_owner, *trainers, *evaluators]})
    play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[0]: 0}, evaluators=evaluators[:2],
                                  score=lambda e, slot, trainer: 800_000), genesis_owner)
    owner = trainers[0]
    assert relay.modelOf(1)["score"] == 800_000 and relay.currentModelOf(owner)[0]
    scores = {trainers[1].address: 650_000, trainers[2].address: 690_000}  # floor: 800,000 - 100,000
    result = play_round(relay, RoundScript(offers={owner: 0}, bids={trainers[1]: 0, trainers[2]: 0},
                                           evaluators=evaluators[2:4], score=lambda e, slot, t: scores[t]),
                        genesis_owner)
    assert sorted(result.outcomes.values()) == ["Rejected", "Rejected"] and result.accepted == []
    assert relay.currentModelOf(owner)[0]  # the parent's owner stays an owner


def test_the_mirror_has_the_same_floor(params):
    from derelayl import RelayProtocol
    from derelayl.protocol import Slot

    p = RelayProtocol(params.replace(score_floor=50_000, floor_margin=100_000), "0x" + "aa" * 20)
    assert p.floor_of(Slot("0x" + "bb" * 20, 0, 0, 0)) == 50_000  # genesis scores 0: the floor alone
    p.models[0].score = 700_000
    assert p.floor_of(Slot("0x" + "bb" * 20, 0, 0, 0)) == 600_000
