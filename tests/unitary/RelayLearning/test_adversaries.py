"""Crowding and ordering attacks on the contract: zero-bid Sybils flooding the bid list,
a bid placed at the last moment, and the order of transactions inside one block.

A block producer (or anyone paying a higher gas price) chooses the order of the
transactions in a block. The tests put several transactions into one block with the
miner stopped, play them in one order and in the reverse order from the same chain
state, and check that the outcome is the same.
"""

from __future__ import annotations

import os

from brownie import web3
from web3.logs import DISCARD
from conftest import close_bidding, reverts

from derelayl import TOKEN

GAS = 8_000_000  # sent without an estimate: the estimate would run before the block's other transactions


def in_one_block(relay, sends, all_succeed: bool = True):
    """Sends every transaction of `sends` ((sender, function name, arguments) of
    `relay`) with the miner stopped, then mines them into one block, in the order
    given. Ganache and Anvil, like a block producer, order a block by gas price, so
    each transaction offers a little less than the one before. They go through web3,
    not brownie, whose undo snapshots would not survive `both_orders`. Returns the
    receipts, after checking they share one block in that order and (unless
    `all_succeed` is False: a test of a refused one) all succeeded."""
    contract = web3.eth.contract(address=relay.address, abi=relay.abi)
    # Ganache stops its miner with miner_stop; Anvil has no such method (an error
    # answer, not an exception) and turns off automining instead.
    anvil = "error" in web3.provider.make_request("miner_stop", [])
    if anvil:
        assert "error" not in web3.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = [getattr(contract.functions, name)(*args).transact(
                      {"from": str(sender), "gas": GAS, "gasPrice": web3.to_wei(10 + len(sends) - i, "gwei")})
                  for i, (sender, name, args) in enumerate(sends)]
        web3.provider.make_request("evm_mine", [])
    finally:
        if anvil:
            web3.provider.make_request("evm_setAutomine", [True])
        else:
            web3.provider.make_request("miner_start", [])
    receipts = [web3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.01) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the transactions were not mined into one block"
    assert [r["transactionIndex"] for r in receipts] == list(range(len(sends)))
    assert not all_succeed or all(r["status"] == 1 for r in receipts), [r["status"] for r in receipts]
    return receipts


def both_orders(play):
    """Plays `play(order)` from the same chain state with order = +1 and -1 (reversed),
    returning both results."""
    snapshot = web3.provider.make_request("evm_snapshot", [])["result"]
    forward = play(1)
    assert web3.provider.make_request("evm_revert", [snapshot])["result"]
    backward = play(-1)
    return forward, backward


# ------------------------------------------------------------------ crowding

def test_zero_bid_sybils_cannot_keep_a_paying_trainer_out(relay, keyed, genesis_owner, trainers, params):
    """Sybils fill the bid list with zero bids. A trainer bidding anything above zero
    evicts one, is matched, and no Sybil loses a token (nor gains one)."""
    sybils = trainers[: params.max_trainers]
    for s in sybils:
        relay.bid(0, 0, {"from": s})
    honest = trainers[params.max_trainers]
    tx = relay.bid(0, TOKEN // 100, {"from": honest})
    evicted = tx.events["BidEvicted"]["trainer"]
    assert evicted in sybils and len(relay.bidsOf(0)) == params.max_trainers
    relay.offer(0, TOKEN, {"from": genesis_owner})
    close_bidding(relay, {"from": genesis_owner})
    matched = [relay.slotOf(0, i)["trainer"] for i in range(params.k)]
    assert honest in matched
    for s in sybils:
        assert relay.creditOf(s) == 100 * TOKEN  # a zero bid locks nothing and loses nothing


def test_a_sybil_flood_of_paying_bids_only_locks_the_sybils_tokens(relay, keyed, genesis_owner, trainers, params):
    """Sybils that outbid everyone win the slots, and pay for them: every unmatched
    bidder, honest or not, is credited back in full when bidding closes."""
    honest = trainers[params.max_trainers]
    relay.bid(0, TOKEN, {"from": honest})
    sybils = trainers[: params.max_trainers]
    for s in sybils:
        relay.bid(0, 2 * TOKEN, {"from": s})
    assert honest not in [b[0] for b in relay.bidsOf(0)]
    assert relay.creditOf(honest) == 100 * TOKEN  # evicted: credited back at once
    relay.offer(0, TOKEN, {"from": genesis_owner})
    close_bidding(relay, {"from": genesis_owner})
    matched = {relay.slotOf(0, i)["trainer"] for i in range(params.k)}
    for s in sybils:
        assert relay.creditOf(s) == (98 if s in matched else 100) * TOKEN


def test_last_moment_bid_wins_fairly_and_the_outbid_trainer_loses_nothing(relay, keyed, genesis_owner, trainers):
    """A bid sent in the same block as closeBidding, just before it, outbids an honest
    bidder that the attacker saw in the mempool. That is an ordinary auction: the
    attacker pays its higher bid, the outbid trainer is credited back in full, and a
    bid that arrives after the close reverts instead of landing in the next round."""
    relay.offer(0, TOKEN, {"from": genesis_owner})
    relay.bid(0, TOKEN, {"from": trainers[0]})
    relay.bid(0, TOKEN, {"from": trainers[1]})
    attacker, outbid = trainers[2], None
    in_one_block(relay, [(attacker, "bid", (0, 2 * TOKEN)), (genesis_owner, "closeBidding", ())])  # bid, lock
    relay.closeBidding({"from": genesis_owner})  # the draw, in the next block
    matched = [relay.slotOf(0, i)["trainer"] for i in range(2)]
    assert matched[0] == attacker  # the highest bid takes the first slot
    outbid = trainers[0] if trainers[0] not in matched else trainers[1]
    assert relay.creditOf(outbid) == 100 * TOKEN
    assert relay.creditOf(attacker) == 98 * TOKEN
    with reverts("RelayWrongPhase"):
        relay.bid(0, 3 * TOKEN, {"from": trainers[3]})


# ------------------------------------------------------------------ ordering

def test_order_of_equal_bids_inside_a_block_changes_no_match(relay, keyed, genesis_owner, trainers):
    """Four equal bids and the lock of Bidding in one block, then the draw: in either
    order of the bids, the slots go to the trainers the seed ranks first (ties go by
    the seed, not by arrival). Since issue 17 (class 3) the seed is the hash of the
    lock's block, so the order inside that block changes the seed itself: a block
    producer can still grind it (docs/security.md), a caller of closeBidding cannot."""
    from derelayl.protocol import bid_tie_key

    relay.offer(0, TOKEN, {"from": genesis_owner})
    bidders = trainers[:4]

    def play(order):
        sends = [(b, "bid", (0, TOKEN)) for b in bidders[::order]]
        in_one_block(relay, sends + [(genesis_owner, "closeBidding", ())])  # the bids and the lock
        draw = in_one_block(relay, [(genesis_owner, "closeBidding", ())])[0]  # web3: survives both_orders
        contract = web3.eth.contract(address=relay.address, abi=relay.abi)
        seed = bytes(contract.events.BiddingClosed().process_receipt(draw, errors=DISCARD)[0]["args"]["seed"])
        expected = sorted(bidders, key=lambda b: -bid_tie_key(seed, b.address))[:2]
        matched = [relay.slotOf(0, i)["trainer"] for i in range(2)]
        return matched == [b.address for b in expected], sorted(relay.creditOf(b) for b in bidders)

    forward, backward = both_orders(play)
    assert forward == backward == (True, [99 * TOKEN] * 2 + [100 * TOKEN] * 2)


def test_order_of_reveals_inside_a_block_changes_no_payout(relay, submitted, trainers, evaluators, genesis_owner):
    """Two evaluators' reveals and the settlement in one block: either order accepts the
    same model and pays everyone the same."""
    scores = {evaluators[0]: [900_000, 600_000], evaluators[1]: [850_000, 880_000]}
    salts = {e: os.urandom(32) for e in scores}
    for e, s in scores.items():
        relay.commit(0, relay.commitmentFor(0, e, s, salts[e]), {"from": e})
    everyone = [genesis_owner, *trainers[:3], *evaluators[:2]]

    def play(order):
        sends = [(e, "reveal", (0, scores[e], salts[e])) for e in list(scores)[::order]]
        in_one_block(relay, sends + [(genesis_owner, "settle", ())])
        accepted = [relay.modelOf(m)["creator"] for m in range(1, relay.modelCount())]
        return accepted, [relay.creditOf(a) for a in everyone]

    forward, backward = both_orders(play)
    assert forward == backward
    assert len(forward[0]) == 1


# ------------------------------------------------------- the draw's seed (issue 17)

def test_whoever_closes_bidding_cannot_see_the_draw_coming(relay, keyed, genesis_owner, trainers, evaluators):
    """Class 3 (issue 17). Before: closeBidding drew the evaluators and broke ties at
    once with keccak(blockhash(n - 1), relay, round), known a block ahead, so a
    minority of the pool could wait for a block whose draw gave it a majority of seats
    and close then (30% of the pool held 5 of 8 seats after 26 blocks). Now the first
    closeBidding only locks the round (no more bids, offers or stakes); the seed is
    the hash of the lock's own block, unknown when the lock was sent, and the draw
    needs a later block."""
    from brownie import chain
    from eth_abi import encode
    from eth_utils import keccak

    relay.offer(0, TOKEN, {"from": genesis_owner})
    for t in trainers[:3]:
        relay.bid(0, TOKEN, {"from": t})
    for e in evaluators:
        relay.stakeEvaluator(0, {"from": e})
    lock = relay.closeBidding({"from": trainers[0]})
    assert "BiddingClosed" not in lock.events and relay.roundInfo(0)["phase"] == 0
    seed_block = lock.events["BiddingLocked"]["seedBlock"]
    assert seed_block == lock.block_number == relay.roundInfo(0)["seedBlock"]
    with reverts("RelayBiddingLocked"):
        relay.bid(0, 2 * TOKEN, {"from": trainers[3]})
    with reverts("RelayBiddingLocked"):
        relay.offer(0, TOKEN, {"from": genesis_owner})
    with reverts("RelayBiddingLocked"):
        relay.stakeEvaluator(0, {"from": trainers[4]})
    # The draw in the same block as the lock is refused: the seed is not known yet.
    first, second = in_one_block(relay, [(trainers[i], "closeBidding", ()) for i in (1, 2)], all_succeed=False)
    assert first["blockNumber"] == second["blockNumber"] > seed_block
    assert first["status"] == 1 and relay.roundInfo(0)["phase"] == 1  # the draw, a block after the lock
    assert second["status"] == 0  # nothing left to close
    expected = keccak(encode(["bytes32", "address", "uint256"], [bytes(web3.eth.get_block(seed_block)["hash"]),
                                                                 relay.address, 0]))
    assert bytes(relay.roundInfo(0)["seed"]) == expected
    chain.mine()


def test_a_draw_in_the_lock_block_waits_and_a_stale_lock_locks_again(relay, keyed, genesis_owner, trainers):
    """The draw must come in a later block than the lock (RelaySeedNotReady); a lock
    whose block hash is gone (more than 256 blocks ago) locks again at the current
    block instead of drawing with a hash of 0."""
    from brownie import chain

    relay.offer(0, TOKEN, {"from": genesis_owner})
    relay.bid(0, TOKEN, {"from": trainers[0]})
    lock, early = in_one_block(relay, [(trainers[i], "closeBidding", ()) for i in (1, 2)], all_succeed=False)
    assert lock["status"] == 1 and early["status"] == 0  # the draw in the lock's block: RelaySeedNotReady
    first_lock = relay.roundInfo(0)["seedBlock"]
    chain.mine(257)
    tx = relay.closeBidding({"from": trainers[1]})
    assert "BiddingClosed" not in tx.events and tx.events["BiddingLocked"]["seedBlock"] == tx.block_number > first_lock
    tx = relay.closeBidding({"from": trainers[1]})
    assert "BiddingClosed" in tx.events and relay.roundInfo(0)["slotCount"] == 1
