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
from conftest import reverts

from derelayl import TOKEN

GAS = 8_000_000  # sent without an estimate: the estimate would run before the block's other transactions


def in_one_block(relay, sends):
    """Sends every transaction of `sends` ((sender, function name, arguments) of
    `relay`) with the miner stopped, then mines them into one block, in the order
    given. Ganache and Anvil, like a block producer, order a block by gas price, so
    each transaction offers a little less than the one before. They go through web3,
    not brownie, whose undo snapshots would not survive `both_orders`. Returns the
    receipts, after checking they share one block in that order and all succeeded."""
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
    assert all(r["status"] == 1 for r in receipts), [r["status"] for r in receipts]
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
    relay.closeBidding({"from": genesis_owner})
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
    relay.closeBidding({"from": genesis_owner})
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
    in_one_block(relay, [(attacker, "bid", (0, 2 * TOKEN)), (genesis_owner, "closeBidding", ())])
    matched = [relay.slotOf(0, i)["trainer"] for i in range(2)]
    assert matched[0] == attacker  # the highest bid takes the first slot
    outbid = trainers[0] if trainers[0] not in matched else trainers[1]
    assert relay.creditOf(outbid) == 100 * TOKEN
    assert relay.creditOf(attacker) == 98 * TOKEN
    with reverts("RelayWrongPhase"):
        relay.bid(0, 3 * TOKEN, {"from": trainers[3]})


# ------------------------------------------------------------------ ordering

def test_order_of_equal_bids_inside_a_block_changes_no_match(relay, keyed, genesis_owner, trainers):
    """Four equal bids and closeBidding in one block: reversing the bids' order gives
    the same seed and the same trainer in every slot (ties go by the seed, not by
    arrival)."""
    relay.offer(0, TOKEN, {"from": genesis_owner})
    bidders = trainers[:4]

    def play(order):
        sends = [(b, "bid", (0, TOKEN)) for b in bidders[::order]]
        receipts = in_one_block(relay, sends + [(genesis_owner, "closeBidding", ())])
        contract = web3.eth.contract(address=relay.address, abi=relay.abi)
        seed = contract.events.BiddingClosed().process_receipt(receipts[-1], errors=DISCARD)[0]["args"]["seed"]
        return seed, [relay.slotOf(0, i)["trainer"] for i in range(2)], [relay.creditOf(b) for b in bidders]

    forward, backward = both_orders(play)
    assert forward == backward


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
