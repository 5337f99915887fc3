"""commit, closeCommit and reveal."""

import os

from conftest import assert_closes_only_after_deadline, reverts, sleep_past_deadline, timed_relay

from derelayl import score_commitment


# -------------------------------------------------------------------- commit

def test_commit_records_commitment(relay, submitted, evaluators):
    commitment = relay.commitmentFor(0, evaluators[0], [1, 2], b"\x07" * 32)
    tx = relay.commit(0, commitment, {"from": evaluators[0]})
    assert tx.events["ScoresCommitted"]["commitment"] == commitment
    assert relay.evaluatorState(0, evaluators[0])[1] is True


def test_commitment_matches_the_sdk(relay, evaluators):
    from brownie import chain

    salt = os.urandom(32)
    expected = score_commitment(chain.id, relay.address, 3, evaluators[0].address, [5, 6, 7], salt)
    assert relay.commitmentFor(3, evaluators[0], [5, 6, 7], salt) == "0x" + expected.hex()


def test_last_commit_starts_revealing(relay, committed):
    assert relay.roundInfo(0)["phase"] == 3


def test_commit_reverts_for_non_evaluator(relay, submitted, outsider):
    with reverts("RelayNotEvaluator"):
        relay.commit(0, b"\x01" * 32, {"from": outsider})


def test_commit_reverts_when_committing_twice(relay, submitted, evaluators):
    relay.commit(0, b"\x01" * 32, {"from": evaluators[0]})
    with reverts("RelayAlreadyCommitted"):
        relay.commit(0, b"\x02" * 32, {"from": evaluators[0]})


def test_commit_reverts_on_zero_commitment(relay, submitted, evaluators):
    with reverts("RelayZeroHash"):
        relay.commit(0, b"\x00" * 32, {"from": evaluators[0]})


def test_commit_reverts_in_wrong_phase(relay, delivered, evaluators):
    with reverts("RelayWrongPhase"):
        relay.commit(0, b"\x01" * 32, {"from": evaluators[0]})


# --------------------------------------------------------------- closeCommit

def test_close_commit_after_deadline_with_missing_commit(relay, submitted, evaluators):
    relay.commit(0, b"\x01" * 32, {"from": evaluators[0]})
    relay.closeCommit({"from": evaluators[0]})
    assert relay.roundInfo(0)["phase"] == 3


def test_close_commit_reverts_in_wrong_phase(relay, delivered, evaluators):
    with reverts("RelayWrongPhase"):
        relay.closeCommit({"from": evaluators[0]})


def test_close_commit_reverts_before_deadline(deployer, genesis_owner, trainers, evaluators, params):
    timed = timed_relay(deployer, genesis_owner, trainers[0], evaluators[0], params, "committing", commit_duration=3600)
    assert_closes_only_after_deadline(timed, "closeCommit", trainers[0])
    assert timed.roundInfo(0)["phase"] == 3


# -------------------------------------------------------------------- reveal

def test_reveal_stores_scores(relay, committed, evaluators):
    e = evaluators[0]
    tx = relay.reveal(0, committed.scores[e], committed.salts[e], {"from": e})
    assert list(relay.revealedScores(0, e)) == committed.scores[e]
    assert list(tx.events["ScoresRevealed"]["scores"]) == committed.scores[e]


def test_reveal_reverts_on_wrong_salt(relay, committed, evaluators):
    e = evaluators[0]
    with reverts("RelayRevealMismatch"):
        relay.reveal(0, committed.scores[e], os.urandom(32), {"from": e})


def test_reveal_reverts_on_other_scores(relay, committed, evaluators):
    e = evaluators[0]
    with reverts("RelayRevealMismatch"):
        relay.reveal(0, [1, 1], committed.salts[e], {"from": e})


def test_reveal_reverts_on_copied_reveal(relay, committed, evaluators):
    # Evaluator 1 replays evaluator 0's revealed scores and salt: bound to the sender.
    e0, e1 = evaluators[0], evaluators[1]
    with reverts("RelayRevealMismatch"):
        relay.reveal(0, committed.scores[e0], committed.salts[e0], {"from": e1})


def test_reveal_reverts_on_wrong_length(relay, committed, evaluators):
    e = evaluators[0]
    with reverts("RelayScoresLength"):
        relay.reveal(0, committed.scores[e] + [0], committed.salts[e], {"from": e})


def test_reveal_reverts_on_oversize_score(relay, submitted, evaluators):
    e = evaluators[0]
    salt = os.urandom(32)
    relay.commit(0, relay.commitmentFor(0, e, [1_000_001, 0], salt), {"from": e})
    relay.closeCommit({"from": e})
    with reverts("RelayScoreTooLarge"):
        relay.reveal(0, [1_000_001, 0], salt, {"from": e})


def test_reveal_reverts_when_not_committed(relay, submitted, evaluators):
    relay.commit(0, b"\x01" * 32, {"from": evaluators[0]})
    relay.closeCommit({"from": evaluators[0]})
    with reverts("RelayNotCommitted"):
        relay.reveal(0, [0, 0], b"\x01" * 32, {"from": evaluators[1]})


def test_reveal_reverts_when_revealing_twice(relay, revealed, evaluators):
    e = evaluators[0]
    # settle has not run: the round is still in Revealing
    with reverts("RelayAlreadyRevealed"):
        relay.reveal(0, revealed.scores[e], revealed.salts[e], {"from": e})


def test_reveal_reverts_in_wrong_phase(relay, submitted, evaluators):
    with reverts("RelayWrongPhase"):
        relay.reveal(0, [0, 0], b"\x01" * 32, {"from": evaluators[0]})
