"""deliverKey, submit, closeTraining and reclaimUndelivered."""

from conftest import close_bidding, assert_closes_only_after_deadline, ENVELOPE, cid_of, reverts, sleep_past_deadline, timed_relay, weights_hash

from derelayl import TOKEN


# ---------------------------------------------------------------- deliverKey

def test_deliver_key_emits_envelope_for_trainer(relay, matched, genesis_owner):
    tx = relay.deliverKey(0, 0, ENVELOPE, {"from": genesis_owner})
    event = tx.events["KeyDelivered"]
    assert event["trainer"] == matched[0]["trainer"]
    assert event["envelope"] == "0x" + ENVELOPE.hex()
    assert relay.slotOf(0, 0)["delivered"] is True


def test_deliver_key_reverts_for_non_owner(relay, matched, trainers):
    with reverts("RelayNotSlotOwner"):
        relay.deliverKey(0, 0, ENVELOPE, {"from": trainers[0]})


def test_deliver_key_reverts_when_delivered_twice(relay, delivered, genesis_owner):
    with reverts("RelayKeyAlreadyDelivered"):
        relay.deliverKey(0, 0, ENVELOPE, {"from": genesis_owner})


def test_deliver_key_reverts_on_unknown_slot(relay, matched, genesis_owner):
    with reverts("RelayUnknownSlot"):
        relay.deliverKey(0, 2, ENVELOPE, {"from": genesis_owner})


def test_deliver_key_reverts_on_empty_envelope(relay, matched, genesis_owner):
    with reverts("RelayEmptyEnvelope"):
        relay.deliverKey(0, 0, b"", {"from": genesis_owner})


def test_deliver_key_reverts_on_oversize_envelope(relay, matched, genesis_owner):
    with reverts("RelayEnvelopeTooLong"):
        relay.deliverKey(0, 0, b"\x01" * 513, {"from": genesis_owner})


def test_deliver_key_reverts_in_wrong_phase(relay, keyed, genesis_owner):
    with reverts("RelayWrongPhase"):
        relay.deliverKey(0, 0, ENVELOPE, {"from": genesis_owner})


# -------------------------------------------------------------------- submit

def test_submit_records_model_and_emits_envelopes(relay, delivered, matched):
    trainer = matched[0]["trainer"]
    tx = relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE, ENVELOPE], {"from": trainer})
    slot = relay.slotOf(0, 0)
    assert slot["submitted"] is True and "cid" not in slot.keys()  # the CID is kept only in the event
    assert tx.events["ModelSubmitted"]["cid"] == cid_of(0)
    assert slot["weightsHash"] == "0x" + weights_hash(0).hex()
    assert len(tx.events["ModelSubmitted"]["envelopes"]) == 2
    assert relay.roundInfo(0)["phase"] == 1  # slot 1 still expected


def test_last_submission_starts_committing(relay, submitted):
    assert relay.roundInfo(0)["phase"] == 2


def test_submit_reverts_for_slot_not_held(relay, delivered, matched):
    with reverts("RelayNotSlotTrainer"):
        relay.submit(0, 1, weights_hash(1), cid_of(1), [ENVELOPE] * 2, {"from": matched[0]["trainer"]})


def test_submit_reverts_before_key_delivered(relay, matched):
    with reverts("RelayKeyNotDelivered"):
        relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE] * 2, {"from": matched[0]["trainer"]})


def test_submit_reverts_when_submitting_twice(relay, delivered, matched):
    trainer = matched[0]["trainer"]
    relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE] * 2, {"from": trainer})
    with reverts("RelayAlreadySubmitted"):
        relay.submit(0, 0, weights_hash(9), cid_of(9), [ENVELOPE] * 2, {"from": trainer})


def test_submit_reverts_on_zero_hash(relay, delivered, matched):
    with reverts("RelayZeroHash"):
        relay.submit(0, 0, b"\x00" * 32, cid_of(0), [ENVELOPE] * 2, {"from": matched[0]["trainer"]})


def test_submit_reverts_on_empty_cid(relay, delivered, matched):
    with reverts("RelayEmptyCid"):
        relay.submit(0, 0, weights_hash(0), "", [ENVELOPE] * 2, {"from": matched[0]["trainer"]})


def test_submit_reverts_on_oversize_cid(relay, delivered, matched):
    with reverts("RelayCidTooLong"):
        relay.submit(0, 0, weights_hash(0), "Q" * 129, [ENVELOPE] * 2, {"from": matched[0]["trainer"]})


def test_submit_reverts_on_wrong_envelope_count(relay, delivered, matched):
    with reverts("RelayEnvelopeCount"):
        relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE], {"from": matched[0]["trainer"]})


def test_submit_reverts_on_empty_envelope(relay, delivered, matched):
    with reverts("RelayEmptyEnvelope"):
        relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE, b""], {"from": matched[0]["trainer"]})


def test_submit_reverts_for_wrong_round(relay, delivered, matched):
    with reverts("RelayWrongRound"):
        relay.submit(1, 0, weights_hash(0), cid_of(0), [ENVELOPE] * 2, {"from": matched[0]["trainer"]})


# ------------------------------------------------------------- closeTraining

def test_close_training_after_deadline_with_missing_submission(relay, delivered, matched):
    relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE] * 2, {"from": matched[0]["trainer"]})
    relay.closeTraining({"from": matched[0]["trainer"]})  # duration 0: deadline already passed
    assert relay.roundInfo(0)["phase"] == 2


def test_close_training_reverts_before_deadline(deployer, genesis_owner, trainers, evaluators, params):
    timed = timed_relay(deployer, genesis_owner, trainers[0], evaluators[0], params, "training", training_duration=3600)
    assert_closes_only_after_deadline(timed, "closeTraining", trainers[0])
    assert timed.roundInfo(0)["phase"] == 3  # nothing submitted: testing is skipped


def test_close_training_reverts_in_wrong_phase(relay, keyed, trainers):
    with reverts("RelayWrongPhase"):
        relay.closeTraining({"from": trainers[0]})


# -------------------------------------------------------- reclaimUndelivered

def test_reclaim_undelivered_returns_bid_and_mo_deposit(relay, matched, genesis_owner):
    trainer = matched[0]["trainer"]
    before = relay.creditOf(trainer)
    relay.closeTraining({"from": trainer})
    tx = relay.reclaimUndelivered(0, 0, {"from": trainer})
    assert tx.events["UndeliveredReclaimed"]["amount"] == 3 * TOKEN + TOKEN
    assert relay.creditOf(trainer) == before + 4 * TOKEN


def test_reclaim_undelivered_reverts_during_training(relay, matched):
    with reverts("RelayWrongPhase"):
        relay.reclaimUndelivered(0, 0, {"from": matched[0]["trainer"]})


def test_reclaim_undelivered_reverts_for_other_trainer(relay, matched):
    relay.closeTraining({"from": matched[0]["trainer"]})
    with reverts("RelayNotSlotTrainer"):
        relay.reclaimUndelivered(0, 0, {"from": matched[1]["trainer"]})


def test_reclaim_undelivered_reverts_when_key_delivered(relay, delivered, matched):
    relay.closeTraining({"from": matched[0]["trainer"]})
    with reverts("RelayKeyAlreadyDelivered"):
        relay.reclaimUndelivered(0, 0, {"from": matched[0]["trainer"]})


def test_reclaim_undelivered_reverts_when_claimed_twice(relay, matched):
    trainer = matched[0]["trainer"]
    relay.closeTraining({"from": trainer})
    relay.reclaimUndelivered(0, 0, {"from": trainer})
    with reverts("RelayAlreadyReclaimed"):
        relay.reclaimUndelivered(0, 0, {"from": trainer})


def test_settlement_pays_undelivered_slots_nobody_reclaimed(relay, matched, genesis_owner):
    trainer = matched[1]["trainer"]
    before = relay.creditOf(trainer)
    relay.closeTraining({"from": trainer})
    relay.settle({"from": trainer})
    assert relay.creditOf(trainer) == before + 2 * TOKEN + TOKEN
    with reverts("RelayAlreadyReclaimed"):
        relay.reclaimUndelivered(0, 1, {"from": trainer})


def test_reclaim_undelivered_reverts_for_future_round(relay, matched):
    with reverts("RelayWrongRound"):
        relay.reclaimUndelivered(5, 0, {"from": matched[0]["trainer"]})


def test_submit_reverts_on_the_parents_own_weights(relay, delivered, matched):
    """A lazy trainer that resubmits its parent's weights unchanged is refused, and can
    still submit a trained model."""
    trainer = matched[0]["trainer"]
    parent = relay.modelOf(relay.slotOf(0, 0)["parentId"])
    with reverts("RelayUnchangedWeights"):
        relay.submit(0, 0, parent["weightsHash"], cid_of(0), [ENVELOPE] * 2, {"from": trainer})
    relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE] * 2, {"from": trainer})
    assert relay.slotOf(0, 0)["submitted"]


# ----------------------------------------------------------- key windows (issue 17)

TRAINING = 1000  # seconds: the owner's window is [0, 500), the couriers' [0, 750)


def timed_round(deployer, genesis_owner, trainer, evaluator, params):
    """A deployment with a Training of TRAINING seconds, in Training: the genesis owner
    offered 1 token per trainer, `trainer` bid 2 tokens (one slot)."""
    from brownie import chain

    from scripts.deploy import deploy
    from conftest import key_of

    _, relay = deploy(deployer, params.replace(training_duration=TRAINING), genesis_owner,
                      {a: 100 * TOKEN for a in [genesis_owner, trainer, evaluator]})
    for account in [genesis_owner, trainer, evaluator]:
        relay.registerKey(key_of(account), {"from": account})
    relay.stakeEvaluator(0, {"from": evaluator})
    relay.offer(0, TOKEN, {"from": genesis_owner})
    relay.bid(0, 2 * TOKEN, {"from": trainer})
    close_bidding(relay, {"from": trainer})
    info = relay.roundInfo(0)
    assert info["keyDeadline"] == info["phaseStart"] + TRAINING // 2
    assert info["courierDeadline"] == info["phaseStart"] + 3 * TRAINING // 4
    return relay, chain, info


def test_a_last_moment_key_is_refused_so_the_trainer_keeps_its_bid(deployer, genesis_owner, trainers, evaluators,
                                                                   params):
    """Class 4 (issue 17). Before: an owner delivered its key at the very end of
    Training (and could close Training in the same transaction, from a contract or a
    bundle): the slot counted as delivered, not submitted, so the trainer's 2-token
    bid burned and the owner got its deposit back, having lost nothing. Now an owner's
    key is taken only in the first half of Training; after that the slot is
    undelivered and the trainer gets its bid and the owner's deposit."""
    trainer = trainers[0]
    relay, chain, info = timed_round(deployer, genesis_owner, trainer, evaluators[0], params)
    chain.sleep(TRAINING - 3)
    chain.mine()
    with reverts("RelayKeyWindowClosed"):
        relay.deliverKey(0, 0, ENVELOPE, {"from": genesis_owner})
    sleep_past_deadline(relay)
    relay.closeTraining({"from": genesis_owner})
    relay.reclaimUndelivered(0, 0, {"from": trainer})
    assert relay.creditOf(trainer) == 100 * TOKEN + TOKEN  # its bid back, and the owner's deposit


def test_the_owner_delivers_in_the_first_half_of_training(deployer, genesis_owner, trainers, evaluators, params):
    trainer = trainers[0]
    relay, chain, info = timed_round(deployer, genesis_owner, trainer, evaluators[0], params)
    chain.sleep(TRAINING // 2 - 20)
    chain.mine()
    relay.deliverKey(0, 0, ENVELOPE, {"from": genesis_owner})  # on time: the trainer has half of Training
    relay.requestKey(0, 0, {"from": trainer})  # the key fails: the couriers' window is still open
    chain.sleep(TRAINING // 4 + 40)  # past 3/4
    chain.mine()
    with reverts("RelayKeyWindowClosed"):
        relay.requestKey(0, 0, {"from": trainer})
    relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE], {"from": trainer})  # submissions: until the close


def test_the_mirror_has_the_same_key_windows(params):
    """RelayProtocol refuses the same late keys, with the same error and deadline."""
    import pytest

    from derelayl import ProtocolRevert, RelayProtocol

    owner, trainer, courier = ("0x" + c * 40 for c in "abc")
    p = RelayProtocol(params.replace(training_duration=TRAINING), owner, allocations={trainer: TOKEN})
    p.register_key(trainer, b"\x01" * 32)
    p.offer(owner, 0, 0)
    p.bid(trainer, 0, 0)
    p.close_bidding(b"\x02" * 32)
    rs = p.rounds[0]
    assert p.key_window(rs, 2) == TRAINING // 2 and p.key_window(rs, 3) == 3 * TRAINING // 4
    p.now = TRAINING // 2
    with pytest.raises(ProtocolRevert, match=r"RelayKeyWindowClosed\(0, 0, 500\)"):
        p.deliver_key(owner, 0, 0, ENVELOPE)
    p.now = 3 * TRAINING // 4
    with pytest.raises(ProtocolRevert, match=r"RelayKeyWindowClosed\(0, 0, 750\)"):
        p.request_key(trainer, 0, 0)
    p.now = TRAINING
    p.close_training()
