"""registerKey, bid, offer, stakeEvaluator and closeBidding."""

from brownie import ZERO_ADDRESS
from conftest import (close_bidding, assert_closes_only_after_deadline, cid_of, ENVELOPE, fresh_accounts, key_of, reverts,
                      sleep_past_deadline, timed_relay, weights_hash)
from eth_utils import keccak

from derelayl import TOKEN
from derelayl.params import MAX_AMOUNT
from scripts.deploy import deploy


# --------------------------------------------------------------- registerKey

def test_register_key_stores_key_and_emits(relay, outsider):
    tx = relay.registerKey(key_of(outsider), {"from": outsider})
    assert relay.publicKeyOf(outsider) == "0x" + key_of(outsider).hex()
    assert tx.events["KeyRegistered"]["account"] == outsider


def test_register_key_reverts_on_zero_key(relay, outsider):
    with reverts("RelayZeroKey"):
        relay.registerKey(b"\x00" * 32, {"from": outsider})


# ----------------------------------------------------------------------- bid

def test_bid_locks_deposit_from_credit(relay, keyed, trainers):
    tx = relay.bid(0, 5 * TOKEN, {"from": trainers[0]})
    assert relay.creditOf(trainers[0]) == 95 * TOKEN
    assert relay.totalLocked() == 5 * TOKEN
    assert tx.events["BidPlaced"]["amount"] == 5 * TOKEN
    assert tx.events["CreditSpent"]["amount"] == 5 * TOKEN


def test_bid_of_zero_is_allowed(relay, keyed, trainers):
    relay.bid(0, 0, {"from": trainers[0]})
    placed = relay.bidsOf(0)[0]
    assert placed[0] == trainers[0] and placed[1] == 0


def test_bid_takes_wallet_tokens_beyond_credit(relay, token, keyed, trainers):
    relay.withdraw(100 * TOKEN, {"from": trainers[0]})
    token.approve(relay, 150 * TOKEN, {"from": trainers[0]})
    relay.withdraw(10 * TOKEN, {"from": trainers[1]})
    token.transfer(trainers[0], 10 * TOKEN, {"from": trainers[1]})
    relay.bid(0, 110 * TOKEN, {"from": trainers[0]})
    assert token.balanceOf(trainers[0]) == 0
    assert relay.totalLocked() == 110 * TOKEN


def test_bid_reverts_without_allowance(relay, token, keyed, trainers):
    with reverts("ERC20InsufficientAllowance"):
        relay.bid(0, 101 * TOKEN, {"from": trainers[0]})


def test_bid_reverts_for_wrong_round(relay, keyed, trainers):
    with reverts("RelayWrongRound"):
        relay.bid(1, 0, {"from": trainers[0]})


def test_bid_reverts_in_wrong_phase(relay, matched, trainers):
    with reverts("RelayWrongPhase"):
        relay.bid(0, 0, {"from": trainers[5]})


def test_bid_reverts_when_oversize(relay, keyed, trainers):
    assert relay.MAX_AMOUNT() == MAX_AMOUNT == 2**96 - 1  # the SDK refuses what the contract refuses
    with reverts("RelayAmountTooLarge"):
        relay.bid(0, relay.MAX_AMOUNT() + 1, {"from": trainers[0]})


def test_bid_reverts_without_key(relay, outsider):
    with reverts("RelayKeyNotRegistered"):
        relay.bid(0, 0, {"from": outsider})


def test_bid_reverts_when_bidding_twice(relay, keyed, trainers):
    relay.bid(0, TOKEN, {"from": trainers[0]})
    with reverts("RelayAlreadyBid"):
        relay.bid(0, 2 * TOKEN, {"from": trainers[0]})


def test_bid_reverts_for_current_model_owner(relay, keyed, genesis_owner):
    with reverts("RelayOwnerCannotBid"):
        relay.bid(0, 0, {"from": genesis_owner})


def test_bid_reverts_for_evaluator_of_round(relay, keyed, evaluators):
    relay.stakeEvaluator(0, {"from": evaluators[0]})
    with reverts("RelayEvaluatorCannotBid"):
        relay.bid(0, 0, {"from": evaluators[0]})


def test_full_round_evicts_lowest_bid(relay, keyed, trainers, params):
    for i in range(params.max_trainers):
        relay.bid(0, (i + 1) * TOKEN, {"from": trainers[i]})
    tx = relay.bid(0, 10 * TOKEN, {"from": trainers[params.max_trainers]})
    assert tx.events["BidEvicted"]["trainer"] == trainers[0]
    assert relay.creditOf(trainers[0]) == 100 * TOKEN
    assert trainers[0] not in [b[0] for b in relay.bidsOf(0)]
    assert len(relay.bidsOf(0)) == params.max_trainers


def test_full_round_refuses_bid_not_above_lowest(relay, keyed, trainers, params):
    for i in range(params.max_trainers):
        relay.bid(0, 0, {"from": trainers[i]})
    with reverts("RelayBidTooLow"):
        relay.bid(0, 0, {"from": trainers[params.max_trainers]})


# --------------------------------------------------------------------- offer

def test_offer_locks_k_times_price(relay, keyed, genesis_owner, params):
    tx = relay.offer(0, TOKEN, {"from": genesis_owner})
    assert relay.totalLocked() == params.k * TOKEN
    assert tx.events["OfferMade"]["modelId"] == 0


def test_offer_reverts_for_non_owner(relay, keyed, trainers):
    with reverts("RelayNotModelOwner"):
        relay.offer(0, 0, {"from": trainers[0]})


def test_offer_reverts_when_offering_twice(relay, keyed, genesis_owner):
    relay.offer(0, 0, {"from": genesis_owner})
    with reverts("RelayAlreadyOffered"):
        relay.offer(0, 0, {"from": genesis_owner})


def test_offer_reverts_when_oversize(relay, keyed, genesis_owner):
    with reverts("RelayAmountTooLarge"):
        relay.offer(0, relay.MAX_AMOUNT() + 1, {"from": genesis_owner})


def test_offer_reverts_in_wrong_phase(relay, matched, genesis_owner):
    with reverts("RelayWrongPhase"):
        relay.offer(0, 0, {"from": genesis_owner})


# ------------------------------------------------------------ stakeEvaluator

def test_stake_evaluator_locks_stake(relay, keyed, evaluators, params):
    tx = relay.stakeEvaluator(0, {"from": evaluators[0]})
    assert relay.evaluatorsOf(0) == [evaluators[0]]
    assert relay.totalLocked() == params.evaluator_stake
    assert tx.events["EvaluatorStaked"]["stake"] == params.evaluator_stake


def test_stake_evaluator_reverts_without_key(relay, outsider):
    with reverts("RelayKeyNotRegistered"):
        relay.stakeEvaluator(0, {"from": outsider})


def test_stake_evaluator_reverts_when_staking_twice(relay, keyed, evaluators):
    relay.stakeEvaluator(0, {"from": evaluators[0]})
    with reverts("RelayAlreadyEvaluator"):
        relay.stakeEvaluator(0, {"from": evaluators[0]})


def test_stake_evaluator_reverts_for_bidder(relay, keyed, trainers):
    relay.bid(0, 0, {"from": trainers[0]})
    with reverts("RelayParticipantCannotEvaluate"):
        relay.stakeEvaluator(0, {"from": trainers[0]})


def test_stake_evaluator_reverts_for_model_owner(relay, keyed, genesis_owner):
    with reverts("RelayParticipantCannotEvaluate"):
        relay.stakeEvaluator(0, {"from": genesis_owner})


def test_ancestors_may_never_evaluate_their_descendants(relay, keyed, genesis_owner, trainers, evaluators):
    """Class 8 (issue 17). Before: only the parent layer's owners were kept out of the
    evaluator pool, so in round 2 the owner of a grandparent model (here the genesis
    owner, and round 0's accepted trainer) could stake, sit on the panel that judged
    its own descendants and earn lineage on the ones it helped accept. Now nobody who
    ever created an accepted model may stake, in any later round."""
    from scripts.relay import RoundScript, play_round

    owners = [genesis_owner]
    creators = [genesis_owner]
    pool = list(trainers)
    for r in range(2):
        bids = {pool.pop(0): 0 for _ in range(2)}
        result = play_round(relay, RoundScript(offers={o: 0 for o in owners}, bids=bids, evaluators=evaluators[:2]),
                            genesis_owner)
        accepted = {c for _, _, c, _ in result.accepted}
        assert accepted, "the round accepted nothing"
        owners = [a for a in trainers if a.address in accepted]
        creators += owners
    assert relay.currentRound() == 2
    grandparent = creators[1]  # round 0's accepted trainer: its model is the parent layer's parent
    assert not relay.currentModelOf(grandparent)[0]  # no longer a model owner of the round
    for ancestor in [genesis_owner, grandparent]:
        with reverts("RelayParticipantCannotEvaluate"):
            relay.stakeEvaluator(2, {"from": ancestor})
    relay.stakeEvaluator(2, {"from": evaluators[2]})  # anyone else still may


def test_the_evaluator_pool_has_no_cap_so_stakers_who_come_late_still_join(relay, keyed, evaluators, trainers,
                                                                           params):
    # 12 stakers for 3 seats came first: the old pool (4 stakers a seat) was then full,
    # and a coalition staking first held every seat.
    early = trainers[:12]
    for e in early:
        relay.stakeEvaluator(0, {"from": e})
    for e in evaluators:
        tx = relay.stakeEvaluator(0, {"from": e})
        assert tx.events["EvaluatorStaked"]["evaluator"] == e
    assert relay.evaluatorsOf(0) == [*early, *evaluators]
    assert relay.roundInfo(0)["evaluatorCount"] == 16
    assert relay.totalLocked() == 16 * params.evaluator_stake


def test_close_bidding_draws_the_seats_by_lot_and_leaves_the_rest_to_reclaim(relay, keyed, genesis_owner,
                                                                            evaluators, trainers, params):
    from derelayl.protocol import draw_evaluators

    pool = [*evaluators, *trainers[6:8]]  # 6 stakers for 3 seats
    for e in pool:
        relay.stakeEvaluator(0, {"from": e})
    relay.offer(0, TOKEN, {"from": genesis_owner})
    relay.bid(0, TOKEN, {"from": trainers[0]})
    tx = close_bidding(relay, {"from": genesis_owner})
    seed = bytes(tx.events["BiddingClosed"]["seed"])
    expected = draw_evaluators([e.address for e in pool], params.max_evaluators, seed)
    drawn, undrawn = expected[: params.max_evaluators], expected[params.max_evaluators:]
    assert relay.evaluatorsOf(0) == drawn
    assert relay.roundInfo(0)["evaluatorCount"] == params.max_evaluators
    assert tx.events["EvaluatorsDrawn"]["stakers"] == len(pool)
    assert tx.events["EvaluatorsDrawn"]["seats"] == params.max_evaluators
    # Nothing is refunded at the close (no loop over the pool): every stake, the bid and
    # the used slot's price (the unused one refunded) stay locked.
    assert relay.totalLocked() == len(pool) * params.evaluator_stake + TOKEN + TOKEN
    by_address = {a.address: a for a in pool}
    relay.deliverKey(0, 0, ENVELOPE, {"from": genesis_owner})
    with reverts("RelayEnvelopeCount"):  # one envelope per drawn evaluator, not per staker
        relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE] * len(pool), {"from": trainers[0]})
    relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE] * len(drawn), {"from": trainers[0]})
    with reverts("RelayNotEvaluator"):  # a staker left out has no seat, reclaimed or not
        relay.commit(0, keccak(text="scores"), {"from": by_address[undrawn[0]]})
    for a in undrawn:  # each takes its stake back in full, once
        assert relay.evaluatorState(0, a)[0] is True
        tx = relay.reclaimStake(0, {"from": by_address[a]})
        assert (tx.events["StakeReclaimed"]["evaluator"], tx.events["StakeReclaimed"]["stake"]) == (
            a, params.evaluator_stake)
        assert relay.creditOf(a) == 100 * TOKEN
        assert relay.evaluatorState(0, a)[0] is False
        with reverts("RelayNotEvaluator"):
            relay.reclaimStake(0, {"from": by_address[a]})
    for a in drawn:  # a drawn stake settles with the round
        with reverts("RelayEvaluatorDrawn"):
            relay.reclaimStake(0, {"from": by_address[a]})
        assert relay.creditOf(a) == 100 * TOKEN - params.evaluator_stake
    assert relay.totalLocked() == len(drawn) * params.evaluator_stake + TOKEN + TOKEN


def test_reclaim_stake_reverts_before_the_draw_and_for_whoever_did_not_stake(relay, keyed, genesis_owner,
                                                                           evaluators, outsider):
    relay.stakeEvaluator(0, {"from": evaluators[0]})
    with reverts("RelayWrongPhase"):  # the draw is still to come
        relay.reclaimStake(0, {"from": evaluators[0]})
    with reverts("RelayWrongRound"):
        relay.reclaimStake(1, {"from": evaluators[0]})
    relay.offer(0, 0, {"from": genesis_owner})
    sleep_past_deadline(relay)
    close_bidding(relay, {"from": genesis_owner})
    with reverts("RelayNotEvaluator"):
        relay.reclaimStake(0, {"from": outsider})
    with reverts("RelayEvaluatorDrawn"):  # the only staker holds a seat
        relay.reclaimStake(0, {"from": evaluators[0]})


def test_a_staker_left_out_may_reclaim_rounds_later(relay, keyed, genesis_owner, evaluators, trainers, params):
    pool = [*evaluators, *trainers[6:10]]  # 8 stakers for 3 seats
    for e in pool:
        relay.stakeEvaluator(0, {"from": e})
    relay.offer(0, 0, {"from": genesis_owner})
    sleep_past_deadline(relay)
    close_bidding(relay, {"from": genesis_owner})  # no bid: nothing to score
    relay.settle({"from": genesis_owner})
    assert relay.currentRound() == 1
    drawn = relay.evaluatorsOf(0)
    undrawn = [a for a in pool if a.address not in drawn]
    assert len(undrawn) == len(pool) - params.max_evaluators
    for a in undrawn:
        relay.reclaimStake(0, {"from": a})
    for a in pool:  # drawn stakes came back at settlement, the others by reclaim
        assert relay.creditOf(a) == 100 * TOKEN
    assert relay.totalLocked() == 0


def test_the_close_costs_the_same_gas_whatever_the_size_of_the_pool(deployer, genesis_owner, params):
    """The draw swaps `seats` entries in place: a pool ten times larger costs the close
    no more than a few swaps (the old close copied, shuffled and refunded the whole pool)."""
    gas = {}
    for size in (params.max_evaluators + 1, 10 * (params.max_evaluators + 1)):
        stakers = fresh_accounts(size)
        _, relay = deploy(deployer, params, genesis_owner, {a: 100 * TOKEN for a in stakers})
        for a in stakers:
            relay.registerKey(key_of(a), {"from": a})
            relay.stakeEvaluator(0, {"from": a})
        relay.offer(0, 0, {"from": genesis_owner})
        sleep_past_deadline(relay)
        tx = close_bidding(relay, {"from": genesis_owner})
        assert tx.events["EvaluatorsDrawn"]["stakers"] == size
        gas[size] = tx.gas_used
    small, large = gas.values()
    print(f"\ncloseBidding gas by pool size: {gas}")
    # At most one more swap a seat (a draw from a small pool may leave a staker in
    # place), about 20k gas; refunding 36 stakers at the close cost well over 700k.
    assert large - small < params.max_evaluators * 25_000


def test_the_draw_seats_a_pool_no_larger_than_the_seats_in_staking_order(relay, keyed, genesis_owner, evaluators,
                                                                       params):
    for e in evaluators[: params.max_evaluators]:
        relay.stakeEvaluator(0, {"from": e})
    relay.offer(0, 0, {"from": genesis_owner})
    tx = close_bidding(relay, {"from": genesis_owner})
    assert relay.evaluatorsOf(0) == evaluators[: params.max_evaluators]
    assert (tx.events["EvaluatorsDrawn"]["stakers"], tx.events["EvaluatorsDrawn"]["seats"]) == (
        params.max_evaluators, params.max_evaluators)


def test_stake_evaluator_reverts_in_wrong_phase(relay, matched, evaluators):
    with reverts("RelayWrongPhase"):
        relay.stakeEvaluator(0, {"from": evaluators[3]})


# -------------------------------------------------------------- closeBidding

def test_close_bidding_matches_highest_bids_and_refunds_the_rest(relay, keyed, genesis_owner, trainers):
    relay.offer(0, TOKEN, {"from": genesis_owner})
    for i, amount in enumerate([1, 3, 2]):
        relay.bid(0, amount * TOKEN, {"from": trainers[i]})
    tx = close_bidding(relay, {"from": trainers[5]})
    slots = [relay.slotOf(0, i) for i in range(relay.roundInfo(0)["slotCount"])]
    assert [s["trainer"] for s in slots] == [trainers[1], trainers[2]]
    assert [s["bid"] for s in slots] == [3 * TOKEN, 2 * TOKEN]
    assert relay.creditOf(trainers[0]) == 100 * TOKEN  # unmatched: refunded
    assert relay.roundInfo(0)["phase"] == 1
    assert len(tx.events["TrainerMatched"]) == 2


def test_close_bidding_refunds_unused_offer_slots(relay, keyed, genesis_owner, trainers):
    relay.offer(0, TOKEN, {"from": genesis_owner})
    relay.bid(0, 0, {"from": trainers[0]})
    close_bidding(relay, {"from": trainers[0]})
    assert relay.creditOf(genesis_owner) == 99 * TOKEN  # k = 2, one slot used
    assert relay.totalLocked() == TOKEN


def test_close_bidding_with_no_bids_goes_straight_to_settlement(relay, keyed, genesis_owner):
    relay.offer(0, TOKEN, {"from": genesis_owner})
    close_bidding(relay, {"from": genesis_owner})
    assert relay.roundInfo(0)["phase"] == 3  # Revealing, nothing to wait for
    tx = relay.settle({"from": genesis_owner})
    assert tx.events["RoundSettled"]["carriedOver"] is True
    assert relay.currentRound() == 1
    assert relay.creditOf(genesis_owner) == 100 * TOKEN


def test_close_bidding_reverts_in_wrong_phase(relay, matched):
    with reverts("RelayWrongPhase"):
        close_bidding(relay, {"from": matched[0]["trainer"]})


def test_close_bidding_reverts_before_deadline(deployer, genesis_owner, trainers, evaluators, params):
    timed = timed_relay(deployer, genesis_owner, trainers[0], evaluators[0], params, "bidding", bidding_duration=3600)
    assert_closes_only_after_deadline(timed, "closeBidding", trainers[0])
    assert timed.roundInfo(0)["slotCount"] == 1


def test_full_list_of_free_bids_does_not_close_bidding_early(deployer, genesis_owner, trainers, evaluators, params):
    """Class 2 (issue 17). Before: once every owner offered and the bid list was full,
    anyone could close Bidding at once, so about 31 zero-bid identities (here 2) let
    an attacker close Bidding an hour early, for gas only, and shut out the
    evaluators that came later (here: the late evaluator could not stake, the round
    had no quorum). Now Bidding closes only at its deadline."""
    from scripts.deploy import deploy

    _, timed = deploy(deployer, params.replace(bidding_duration=3600, max_trainers=2), genesis_owner,
                      {evaluators[0]: 100 * TOKEN})
    for account in [genesis_owner, *trainers[:2], evaluators[0]]:
        timed.registerKey(key_of(account), {"from": account})
    timed.offer(0, 0, {"from": genesis_owner})
    timed.bid(0, 0, {"from": trainers[0]})  # the attacker's free bids fill the list
    timed.bid(0, 0, {"from": trainers[1]})
    with reverts("RelayPhaseNotOver"):
        close_bidding(timed, {"from": trainers[0]})
    timed.stakeEvaluator(0, {"from": evaluators[0]})  # a later evaluator still gets in
    sleep_past_deadline(timed)
    close_bidding(timed, {"from": trainers[0]})
    assert timed.roundInfo(0)["slotCount"] == 2
    assert timed.evaluatorsOf(0) == [evaluators[0]]


def test_bid_ties_are_broken_by_the_seed(relay, keyed, genesis_owner, trainers):
    relay.offer(0, 0, {"from": genesis_owner})
    for t in trainers[:4]:
        relay.bid(0, TOKEN, {"from": t})
    tx = close_bidding(relay, {"from": genesis_owner})
    seed = tx.events["BiddingClosed"]["seed"]
    from derelayl.protocol import bid_tie_key

    expected = sorted(trainers[:4], key=lambda t: -bid_tie_key(bytes(seed), t.address))[:2]
    assert [relay.slotOf(0, i)["trainer"] for i in range(2)] == [t.address for t in expected]
    assert ZERO_ADDRESS not in [relay.slotOf(0, i)["trainer"] for i in range(2)]
    assert len(ENVELOPE) == 80
