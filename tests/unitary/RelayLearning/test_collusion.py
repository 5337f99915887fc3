"""A colluding evaluator under the default parameters.

A model is ranked only on at least `quorum` revealed scores, and the default quorum is
SAFE_QUORUM (5). With three evaluators, one colluder pulled its favourite's median up
to the higher honest score (+77% income in docs/robustness.md); under the default
quorum such a round ranks nothing and every deposit goes back. With five evaluators
the colluder cannot lift its favourite past the model the honest evaluators prefer.
"""

import os

import pytest
from brownie import accounts

from conftest import close_bidding, ENVELOPE, cid_of, weights_hash

from derelayl import TEST_PARAMS, SAFE_QUORUM, TOKEN

HONEST_PICK, FAVOURITE = 0, 1  # indices into `trainers`: the colluder favours trainer 1
ACCEPTED, REJECTED, NO_QUORUM = 0, 1, 2  # SlotOutcome


@pytest.fixture(scope="module")
def params():
    return TEST_PARAMS.replace(k=2, max_trainers=6)  # the default quorum and seats, durations 0


@pytest.fixture(scope="module")
def evaluators():
    return accounts[14:19]


def play_round_zero(relay, genesis_owner, trainers, scores_of: dict) -> object:
    """Round 0: the genesis owner offers 1 token per trainer, trainers 0 and 1 bid 2
    and 1 tokens and submit, and each evaluator of `scores_of` stakes, commits and
    reveals its scores, given by trainer index. Returns the settle transaction."""
    for e in scores_of:
        relay.stakeEvaluator(0, {"from": e})
    relay.offer(0, TOKEN, {"from": genesis_owner})
    relay.bid(0, 2 * TOKEN, {"from": trainers[HONEST_PICK]})
    relay.bid(0, TOKEN, {"from": trainers[FAVOURITE]})
    close_bidding(relay, {"from": genesis_owner})
    slot_trainers = [relay.slotOf(0, slot)["trainer"] for slot in range(2)]
    for slot, trainer in enumerate(slot_trainers):
        relay.deliverKey(0, slot, ENVELOPE, {"from": genesis_owner})
        relay.submit(0, slot, weights_hash(slot), cid_of(slot), [ENVELOPE] * len(scores_of), {"from": trainer})
    salts = {e: os.urandom(32) for e in scores_of}
    by_slot = {e: [scores[trainers.index(t)] for t in slot_trainers] for e, scores in scores_of.items()}
    for e in scores_of:
        relay.commit(0, relay.commitmentFor(0, e, by_slot[e], salts[e]), {"from": e})
    for e in scores_of:
        relay.reveal(0, by_slot[e], salts[e], {"from": e})
    return relay.settle({"from": genesis_owner})


def test_the_default_quorum_keeps_one_colluder_of_three_from_lifting_its_favourite(
        relay, keyed, genesis_owner, trainers, evaluators, params):
    assert params.quorum == SAFE_QUORUM == 5
    honest_a, honest_b, colluder = evaluators[:3]
    # The honest evaluators prefer trainer 0 (medians of their scores 0.790 against 0.745).
    # With a quorum of 1 the median of three would rank the favourite first: 0.790
    # against 0.780, and trainer 0 would lose its bid.
    tx = play_round_zero(relay, genesis_owner, trainers, {
        honest_a: {HONEST_PICK: 800_000, FAVOURITE: 700_000},
        honest_b: {HONEST_PICK: 780_000, FAVOURITE: 790_000},
        colluder: {HONEST_PICK: 0, FAVOURITE: 1_000_000},
    })
    assert [e["outcome"] for e in tx.events["SlotSettled"]] == [NO_QUORUM, NO_QUORUM]
    assert "ModelAccepted" not in tx.events and tx.events["RoundSettled"]["carriedOver"] is True
    for account in [genesis_owner, trainers[HONEST_PICK], trainers[FAVOURITE]]:
        assert relay.creditOf(account) == 100 * TOKEN  # bids and slot prices all back
    assert relay.creditOf(colluder) <= relay.creditOf(honest_a) == relay.creditOf(honest_b)
    assert tuple(relay.currentModelOf(genesis_owner)) == (True, 0)  # the relay carries over


def test_five_evaluators_rank_the_model_the_honest_ones_prefer(relay, keyed, genesis_owner, trainers, evaluators):
    *honest, colluder = evaluators[:5]
    honest_scores = {HONEST_PICK: [800_000, 780_000, 760_000, 740_000], FAVOURITE: [700_000, 790_000, 720_000, 750_000]}
    scores_of = {e: {t: honest_scores[t][i] for t in honest_scores} for i, e in enumerate(honest)}
    scores_of[colluder] = {HONEST_PICK: 0, FAVOURITE: 1_000_000}
    tx = play_round_zero(relay, genesis_owner, trainers, scores_of)
    accepted = tx.events["ModelAccepted"]
    assert len(accepted) == 1
    assert accepted[0]["creator"] == trainers[HONEST_PICK] and accepted[0]["score"] == 760_000
    outcome_of = {relay.slotOf(0, e["slot"])["trainer"]: e["outcome"] for e in tx.events["SlotSettled"]}
    assert outcome_of == {trainers[HONEST_PICK]: ACCEPTED, trainers[FAVOURITE]: REJECTED}
    assert relay.creditOf(trainers[HONEST_PICK]) == 100 * TOKEN  # its bid back
    assert all(relay.creditOf(colluder) < relay.creditOf(e) for e in honest)  # scored outside the tolerance
