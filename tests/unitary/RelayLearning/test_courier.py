"""courierKey, requestKey and courierOffer: the evaluators of the round that accepted a
model deliver its key when its owner withholds it or delivers one that does not open
it (the trainer asks with requestKey), and offer the model when its owner went away,
so that owners who withhold, cheat or leave cannot stop the relay or cost a trainer
its bid.

Round 0 is played as in the other unit tests: evaluators 0 and 1 score, trainer 0's
model (model 1) is accepted, and both evaluators hold its key. In round 1 trainer 0
owns model 1 and offers it at 1 token per trainer; trainers 3 and 4 bid 2 and 1
tokens and take slots 0 and 1; evaluators 2 and 3 evaluate.
"""

import os

import pytest
from conftest import close_bidding, ENVELOPE, cid_of, reverts, weights_hash
from eth_utils import keccak

from derelayl import TOKEN


@pytest.fixture
def round_zero_settled(relay, revealed, trainers):
    """Round 1 in Bidding: trainer 0 owns model 1; evaluators 0 and 1 hold its key."""
    relay.settle({"from": trainers[5]})


def bid_stake_and_close(relay, trainers, evaluators, r=1):
    """Trainers 3 and 4 bid, evaluators 2 and 3 stake, bidding closes. Returns the
    two slots' trainers."""
    for e in evaluators[2:4]:
        relay.stakeEvaluator(r, {"from": e})
    relay.bid(r, 2 * TOKEN, {"from": trainers[3]})
    relay.bid(r, TOKEN, {"from": trainers[4]})
    close_bidding(relay, {"from": trainers[3]})
    slots = [relay.slotOf(r, i) for i in range(2)]
    assert [s["parentId"] for s in slots] == [1, 1]
    return [s["trainer"] for s in slots]


@pytest.fixture
def round_one(relay, round_zero_settled, trainers, evaluators):
    """Round 1 in Training, the owner offered at 1 token, nobody delivered yet.
    Returns the two slots' trainers."""
    relay.offer(1, TOKEN, {"from": trainers[0]})
    return bid_stake_and_close(relay, trainers, evaluators)


def submit_and_score(relay, round_trainers, evaluators, scores_by_evaluator, r=1):
    for slot, trainer in enumerate(round_trainers):
        relay.submit(r, slot, weights_hash(f"r{r}:{slot}"), cid_of(f"r{r}:{slot}"), [ENVELOPE] * 2, {"from": trainer})
    salts = {}
    for e, scores in zip(evaluators[2:4], scores_by_evaluator):
        salts[e] = os.urandom(32)
        relay.commit(r, relay.commitmentFor(r, e, scores, salts[e]), {"from": e})
    for e, scores in zip(evaluators[2:4], scores_by_evaluator):
        relay.reveal(r, scores, salts[e], {"from": e})
    return relay.settle({"from": evaluators[2]})


def test_evaluators_of_the_accepting_round_courier_a_withheld_key(relay, round_one, trainers, evaluators):
    """The owner of model 1 delivers nothing. Evaluator 0 of round 0 couriers the key;
    both trainers train and are judged as usual, and the owner's deposit for each slot
    goes to its trainer whatever the outcome."""
    owner = trainers[0]
    for slot, trainer in enumerate(round_one):
        tx = relay.courierKey(1, slot, ENVELOPE, {"from": evaluators[0]})
        event = tx.events["KeyCouriered"]
        assert (event["trainer"], event["courier"]) == (trainer, evaluators[0])
        assert event["envelope"] == "0x" + ENVELOPE.hex()
        s = relay.slotOf(1, slot)
        assert s["couriered"] is True and s["delivered"] is False

    tx = submit_and_score(relay, round_one, evaluators, [[900_000, 600_000], [800_000, 700_000]])

    assert {e["slot"]: e["outcome"] for e in tx.events["SlotSettled"]} == {0: 0, 1: 1}  # Accepted, Rejected
    assert tx.events["ModelAccepted"][0]["parentId"] == 1  # the relay moved on past the withholder
    assert relay.roundInfo(2)["parentLayer"] == 2
    assert relay.creditOf(round_one[0]) == 100 * TOKEN + TOKEN  # bid back, plus the owner's deposit
    assert relay.creditOf(round_one[1]) == 100 * TOKEN - TOKEN + TOKEN  # bid burned, plus the owner's deposit
    assert relay.creditOf(owner) == 100 * TOKEN - 2 * TOKEN  # both slot deposits paid to the trainers
    assert relay.totalLocked() == 0


def test_more_than_one_courier_may_deliver(relay, round_one, evaluators):
    relay.courierKey(1, 0, ENVELOPE, {"from": evaluators[0]})
    tx = relay.courierKey(1, 0, b"\x01" * 80, {"from": evaluators[1]})
    assert tx.events["KeyCouriered"]["courier"] == evaluators[1]


def test_only_an_evaluator_of_the_accepting_round_may_courier(relay, round_one, trainers, evaluators, outsider):
    for account in (evaluators[2], trainers[5], outsider):  # evaluator 2 evaluated round 1, not round 0
        with reverts("RelayNotKeyHolder"):
            relay.courierKey(1, 0, ENVELOPE, {"from": account})


def test_nobody_couriers_the_genesis_key(relay, matched, evaluators):
    with reverts("RelayNotKeyHolder"):
        relay.courierKey(0, 0, ENVELOPE, {"from": evaluators[0]})


def test_a_key_holder_may_courier_after_the_owner_delivered_a_key_that_fails(relay, round_one, trainers,
                                                                             evaluators):
    """The owner delivers to both slots, but its keys do not open model 1 (the contract
    cannot tell). Each trainer asks; evaluator 0 of round 0 couriers the right key; both
    submit. The owner delivered, so it is paid as usual: the courier changes nothing but
    the trainers' chance to train, and nobody loses a deposit to the garbage key."""
    owner = trainers[0]
    for slot, trainer in enumerate(round_one):
        relay.deliverKey(1, slot, b"\xee" * 80, {"from": owner})  # garbage, sealed or not
        tx = relay.requestKey(1, slot, {"from": trainer})
        assert dict(tx.events["KeyRequested"]) == {"round": 1, "slot": slot, "trainer": trainer}
        relay.courierKey(1, slot, ENVELOPE, {"from": evaluators[0]})
        s = relay.slotOf(1, slot)
        assert s["delivered"] is True and s["couriered"] is True

    submit_and_score(relay, round_one, evaluators, [[900_000, 600_000], [800_000, 700_000]])
    assert relay.creditOf(owner) == 100 * TOKEN - TOKEN  # slot 0 refunded, slot 1 burned: as without a courier
    assert relay.creditOf(round_one[0]) == 100 * TOKEN  # accepted: its bid back
    assert relay.creditOf(round_one[1]) == 100 * TOKEN - TOKEN  # rejected on its merits: its bid burned
    assert relay.totalLocked() == 0


def test_courier_reverts_once_the_trainer_submitted(relay, round_one, trainers, evaluators):
    relay.deliverKey(1, 0, ENVELOPE, {"from": trainers[0]})
    relay.submit(1, 0, weights_hash("r1:0"), cid_of("r1:0"), [ENVELOPE] * 2, {"from": round_one[0]})
    with reverts("RelayAlreadySubmitted"):
        relay.courierKey(1, 0, ENVELOPE, {"from": evaluators[0]})
    relay.courierKey(1, 1, ENVELOPE, {"from": evaluators[0]})  # the other slot still may


def test_only_the_slot_trainer_may_request_a_key_and_only_until_it_submits(relay, round_one, trainers,
                                                                           evaluators):
    for account in (round_one[1], trainers[0], evaluators[0]):  # another trainer, the owner, a key holder
        with reverts("RelayNotSlotTrainer"):
            relay.requestKey(1, 0, {"from": account})
    with reverts("RelayUnknownSlot"):
        relay.requestKey(1, 2, {"from": round_one[0]})
    relay.requestKey(1, 0, {"from": round_one[0]})  # before any delivery too, and again
    relay.requestKey(1, 0, {"from": round_one[0]})
    relay.deliverKey(1, 0, ENVELOPE, {"from": trainers[0]})
    relay.submit(1, 0, weights_hash("r1:0"), cid_of("r1:0"), [ENVELOPE] * 2, {"from": round_one[0]})
    with reverts("RelayAlreadySubmitted"):
        relay.requestKey(1, 0, {"from": round_one[0]})
    relay.closeTraining({"from": round_one[0]})  # training duration 0
    with reverts("RelayWrongPhase"):
        relay.requestKey(1, 1, {"from": round_one[1]})


def test_courier_checks_phase_and_envelope(relay, round_one, evaluators):
    with reverts("RelayEmptyEnvelope"):
        relay.courierKey(1, 0, b"", {"from": evaluators[0]})
    with reverts("RelayEnvelopeTooLong"):
        relay.courierKey(1, 0, b"\x01" * 513, {"from": evaluators[0]})
    relay.closeTraining({"from": evaluators[0]})  # training duration 0
    with reverts("RelayWrongPhase"):
        relay.courierKey(1, 0, ENVELOPE, {"from": evaluators[0]})


def test_an_owner_that_delivers_after_a_courier_is_paid_as_usual(relay, round_one, trainers, evaluators):
    """A slow owner loses nothing to a courier: once it delivers, the slot is its own."""
    owner = trainers[0]
    for slot in range(2):
        relay.courierKey(1, slot, ENVELOPE, {"from": evaluators[0]})
        relay.deliverKey(1, slot, ENVELOPE, {"from": owner})
    submit_and_score(relay, round_one, evaluators, [[900_000, 600_000], [800_000, 700_000]])
    assert relay.creditOf(owner) == 100 * TOKEN - TOKEN  # slot 0 refunded, slot 1 burned
    assert relay.creditOf(round_one[0]) == 100 * TOKEN


def test_a_couriered_trainer_that_submitted_cannot_reclaim(relay, round_one, trainers, evaluators):
    relay.courierKey(1, 0, ENVELOPE, {"from": evaluators[0]})
    relay.submit(1, 0, weights_hash("r1:0"), cid_of("r1:0"), [ENVELOPE] * 2, {"from": round_one[0]})
    relay.closeTraining({"from": round_one[0]})  # training duration 0
    with reverts("RelayAlreadySubmitted"):
        relay.reclaimUndelivered(1, 0, {"from": round_one[0]})
    # slot 1 was couriered to nobody and not submitted: its trainer reclaims as before
    relay.reclaimUndelivered(1, 1, {"from": round_one[1]})
    assert relay.creditOf(round_one[1]) == 100 * TOKEN + TOKEN


def test_a_couriered_slot_left_unsubmitted_pays_the_remedy(relay, round_one, trainers, evaluators):
    relay.deliverKey(1, 0, ENVELOPE, {"from": trainers[0]})
    relay.courierKey(1, 1, ENVELOPE, {"from": evaluators[0]})
    relay.submit(1, 0, weights_hash("r1:0"), cid_of("r1:0"), [ENVELOPE] * 2, {"from": round_one[0]})
    relay.closeTraining({"from": round_one[0]})
    relay.closeCommit({"from": round_one[0]})
    tx = relay.settle({"from": round_one[0]})
    outcomes = {e["slot"]: e["outcome"] for e in tx.events["SlotSettled"]}
    assert outcomes[1] == 4  # Undelivered: bid and the owner's deposit go to the trainer
    assert relay.creditOf(round_one[1]) == 100 * TOKEN + TOKEN


# -------------------------------------------------------------- courierOffer

@pytest.fixture
def owners_gone(relay, round_zero_settled, trainers):
    """The owner of model 1 went away: round 1 had no offer, no slot, and carried
    layer 1 over. Round 2 is in Bidding."""
    close_bidding(relay, {"from": trainers[5]})
    relay.settle({"from": trainers[5]})
    assert relay.roundInfo(1)["offerCount"] == 0 and relay.roundInfo(2)["parentLayer"] == 1


def test_a_key_holder_offers_the_model_of_an_owner_gone_away(relay, owners_gone, trainers, evaluators):
    """After a round without offers, evaluator 1 of round 0 offers model 1 at price 0
    and couriers its key; the round trains, settles and accepts a child of model 1,
    and the absent owner keeps its lineage reward."""
    owner = trainers[0]
    tx = relay.courierOffer(2, 1, {"from": evaluators[1]})
    assert dict(tx.events["OfferCouriered"]) == {"round": 2, "modelId": 1, "courier": evaluators[1]}
    assert [tuple(o) for o in relay.offersOf(2)] == [(1, 0)]
    assert relay.creditOf(evaluators[1]) == 100 * TOKEN + 2 * relay.params()["evaluatorReward"]  # nothing locked

    round_trainers = bid_stake_and_close(relay, trainers, evaluators, r=2)
    for slot in range(2):
        relay.courierKey(2, slot, ENVELOPE, {"from": evaluators[1]})
    tx = submit_and_score(relay, round_trainers, evaluators, [[900_000, 600_000], [800_000, 700_000]], r=2)

    assert tx.events["ModelAccepted"][0]["parentId"] == 1
    assert relay.creditOf(round_trainers[0]) == 100 * TOKEN  # accepted: bid back
    assert relay.creditOf(owner) == 100 * TOKEN  # locked nothing, lost nothing
    assert relay.claimable(1, 10)[0] == 1  # and its lineage grew by one


def test_couriers_offer_only_after_a_round_without_offers(relay, round_zero_settled, evaluators):
    """In its owner's first round (round 0 had another parent layer), couriers may not
    offer a model: an owner cannot leave its offer, and its deposit, to a courier."""
    with reverts("RelayOwnersStillActive"):
        relay.courierOffer(1, 1, {"from": evaluators[0]})


def test_courier_offer_refusals(relay, owners_gone, trainers, evaluators):
    with reverts("RelayNotKeyHolder"):
        relay.courierOffer(2, 1, {"from": evaluators[2]})  # evaluated no round that accepted model 1
    with reverts("RelayNotParentModel"):
        relay.courierOffer(2, 0, {"from": evaluators[0]})  # genesis is not in round 2's parent layer
    with reverts("RelayNotParentModel"):
        relay.courierOffer(2, 7, {"from": evaluators[0]})  # no such model
    relay.offer(2, TOKEN, {"from": trainers[0]})  # the owner is back
    with reverts("RelayAlreadyOffered"):
        relay.courierOffer(2, 1, {"from": evaluators[0]})
    with reverts("RelayWrongRound"):
        relay.courierOffer(1, 1, {"from": evaluators[0]})


def test_an_owner_cannot_offer_after_a_courier_did(relay, owners_gone, trainers, evaluators):
    relay.courierOffer(2, 1, {"from": evaluators[0]})
    with reverts("RelayAlreadyOffered"):
        relay.offer(2, TOKEN, {"from": trainers[0]})


def test_nobody_courier_offers_genesis(relay, keyed, trainers, evaluators):
    close_bidding(relay, {"from": trainers[5]})  # the genesis owner offered nothing in round 0
    relay.settle({"from": trainers[5]})
    with reverts("RelayNotKeyHolder"):
        relay.courierOffer(1, 0, {"from": evaluators[0]})


def test_one_active_owner_no_longer_blocks_couriers_for_its_layer(deployer, genesis_owner, trainers, evaluators,
                                                                 params):
    """Class 7 (issue 17), courier offers per model. Before: one owner that offered
    every round blocked courier offers for its whole layer (RelayOwnersStillActive
    whenever the round before had any offer), so the models of owners who went away
    were never trained again. Now a key holder may offer a model that nobody offered
    in the round before (same parent layer), whatever the other owners do."""
    from scripts.deploy import deploy
    from scripts.relay import RoundScript, play_round

    _, relay = deploy(deployer, params.replace(selection_permille=1000), genesis_owner,
                      {a: 100 * TOKEN for a in [genesis_owner, *trainers, *evaluators]})
    play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[0]: 0, trainers[1]: 0},
                                  evaluators=evaluators[:2]), genesis_owner)
    layer = list(relay.layerOf(1))
    assert len(layer) == 2
    creator = {m: relay.modelOf(m)["creator"] for m in layer}
    active = next(t for t in trainers[:2] if t.address == creator[layer[0]])
    gone_model = layer[1]
    # Round 1: the active owner offers, the other is gone; its trainer never submits,
    # so the round carries layer 1 over.
    play_round(relay, RoundScript(offers={active: 0}, bids={trainers[2]: 0}, skip_submit={trainers[2]}),
               genesis_owner)
    assert relay.roundInfo(2)["parentLayer"] == 1 and relay.roundInfo(1)["offerCount"] == 1
    relay.offer(2, 0, {"from": active})  # still active
    with reverts("RelayOwnersStillActive"):
        relay.courierOffer(2, layer[0], {"from": evaluators[0]})  # it offered in round 1
    tx = relay.courierOffer(2, gone_model, {"from": evaluators[0]})
    assert tx.events["OfferCouriered"]["modelId"] == gone_model
    assert {o["modelId"] for o in relay.offersOf(2)} == set(layer)


def test_a_withholding_owner_always_pays_its_trainers(deployer, genesis_owner, trainers, evaluators, params):
    """Class 7 (issue 17), the owner's deposit. Before: offers were ranked by score
    only and a price of 0 was allowed, so a price-0 owner withheld its keys for free
    (the undelivered remedy was worth 0 to its trainers). Now every offer pays at
    least `minPrice` per trainer, and a withholder pays it to each trainer."""
    from scripts.deploy import deploy

    floor = TOKEN // 10
    _, relay = deploy(deployer, params.replace(min_price=floor), genesis_owner,
                      {a: 100 * TOKEN for a in [genesis_owner, *trainers[:2], evaluators[0]]})
    for account in [genesis_owner, *trainers[:2], evaluators[0]]:
        relay.registerKey(keccak(text=f"key:{account.address}"), {"from": account})
    with reverts("RelayPriceTooLow"):
        relay.offer(0, 0, {"from": genesis_owner})
    with reverts("RelayPriceTooLow"):
        relay.offer(0, floor - 1, {"from": genesis_owner})
    relay.offer(0, floor, {"from": genesis_owner})
    relay.bid(0, 0, {"from": trainers[0]})
    relay.stakeEvaluator(0, {"from": evaluators[0]})
    close_bidding(relay, {"from": trainers[0]})
    relay.closeTraining({"from": trainers[0]})  # the owner withheld its key
    relay.reclaimUndelivered(0, 0, {"from": trainers[0]})
    assert relay.creditOf(trainers[0]) == 100 * TOKEN + floor  # its bid (0) and the owner's deposit
    assert relay.creditOf(genesis_owner) == 100 * TOKEN - floor  # the unused slot came back


def test_couriers_serve_in_the_first_three_quarters_of_training(deployer, genesis_owner, trainers, evaluators, params):
    """Class 4 (issue 17), couriers. Before: a courier's key (or a request for one)
    was taken until Training closed, so a key couriered at the last moment left the
    trainer no time to train. Now couriers serve during the first three quarters: a
    trainer keeps at least a quarter of Training after a courier's key. And
    `roundInfo` shows both windows."""
    from brownie import chain

    from scripts.deploy import deploy
    from scripts.relay import RoundScript, play_round

    training = 1000
    _, relay = deploy(deployer, params.replace(training_duration=training), genesis_owner,
                      {a: 100 * TOKEN for a in [genesis_owner, *trainers, *evaluators]})
    play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[0]: 0, trainers[1]: 0},
                                  evaluators=evaluators[:2]), genesis_owner)
    owner = next(t for t in trainers[:2] if relay.currentModelOf(t)[0])
    relay.offer(1, 0, {"from": owner})
    for t in trainers[2:4]:
        relay.registerKey(keccak(text=f"key:{t.address}"), {"from": t})
        relay.bid(1, 0, {"from": t})
    close_bidding(relay, {"from": owner})
    info = relay.roundInfo(1)
    assert (info["keyDeadline"], info["courierDeadline"]) == (info["phaseStart"] + 500, info["phaseStart"] + 750)
    chain.sleep(600)
    chain.mine()
    with reverts("RelayKeyWindowClosed"):
        relay.deliverKey(1, 0, ENVELOPE, {"from": owner})  # the owner's half is over
    relay.courierKey(1, 0, ENVELOPE, {"from": evaluators[0]})  # a courier still may
    chain.sleep(200)
    chain.mine()
    with reverts("RelayKeyWindowClosed"):
        relay.courierKey(1, 1, ENVELOPE, {"from": evaluators[0]})
    with reverts("RelayKeyWindowClosed"):
        relay.requestKey(1, 0, {"from": relay.slotOf(1, 0)["trainer"]})
