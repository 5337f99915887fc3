"""Limits: the largest rounds the caps allow, and the bytecode's opcodes.

- Every external function stays under half the block gas limit at the largest round
  the caps allow (128 trainers, 32 evaluators, 128 model owners): closeBidding with
  128 bids and 128 offers, submit with 32 envelopes of the largest size and the
  longest CID, reveal of 128 scores, settle of 128 slots x 32 evaluators.
- A participant beyond a cap is refused: the 129th bid (unless it outbids the lowest)
  and the 33rd evaluator.
- The deployed bytecode uses no opcode that the Shanghai fork (Ganache's) lacks:
  TLOAD, TSTORE and MCOPY came with Cancun.
"""

from __future__ import annotations

import os

from brownie import accounts, web3
from eth_utils import keccak

from conftest import reverts
from derelayl import DEFAULT_PARAMS, TOKEN
from scripts.deploy import deploy

CAP_TRAINERS, CAP_EVALUATORS = 128, 32
LARGEST = DEFAULT_PARAMS.replace(k=CAP_TRAINERS, selection_permille=1000, max_trainers=CAP_TRAINERS,
                                 max_evaluators=CAP_EVALUATORS, quorum=CAP_EVALUATORS, evaluator_stake=TOKEN)
BIG_ENVELOPE = b"\xee" * 512
LONG_CID = "Q" * 128
CANCUN_OPCODES = {0x5C: "TLOAD", 0x5D: "TSTORE", 0x5E: "MCOPY"}


def fresh_accounts(n: int):
    """`n` new accounts funded with ether for gas (brownie's dev accounts are too few)."""
    created = [accounts.add() for _ in range(n)]
    for a in created:
        accounts[0].transfer(a, "1 ether", silent=True)
    return created


def register(relay, people):
    for a in people:
        relay.registerKey(keccak(text=f"key:{a.address}"), {"from": a, "silent": True})


def test_largest_rounds_stay_under_half_a_block():
    half_block = web3.eth.get_block("latest")["gasLimit"] // 2
    genesis = accounts[1]
    trainers = fresh_accounts(CAP_TRAINERS)  # round 0's trainers, round 1's model owners
    bidders = fresh_accounts(CAP_TRAINERS + 1)  # round 1's trainers, and one too many
    evaluators = fresh_accounts(CAP_EVALUATORS + 1)
    _, relay = deploy(accounts[0], LARGEST, genesis, {e: 100 * TOKEN for e in evaluators})
    register(relay, [genesis, *trainers, *bidders, *evaluators])
    gas: dict[str, int] = {}

    def send(name, *args, sender):
        tx = getattr(relay, name)(*args, {"from": sender, "silent": True})
        gas[name] = max(gas.get(name, 0), tx.gas_used)
        return tx

    def play_round(r: int, owners, players, scores_of):
        for e in evaluators[:CAP_EVALUATORS]:
            send("stakeEvaluator", r, sender=e)
        with reverts("RelayEvaluatorCapReached"):
            relay.stakeEvaluator(r, {"from": evaluators[CAP_EVALUATORS]})
        for owner in owners:
            send("offer", r, 0, sender=owner)
        for i, t in enumerate(players[:CAP_TRAINERS]):
            send("bid", r, i + 1, sender=t)  # distinct amounts: the 129th must outbid the lowest
        send("closeBidding", sender=genesis)
        info = relay.roundInfo(r)
        assert info["slotCount"] == CAP_TRAINERS and info["offerCount"] == len(owners)
        for slot in range(CAP_TRAINERS):
            s = relay.slotOf(r, slot)
            owner = relay.modelOf(s["parentId"])["creator"]
            send("deliverKey", r, slot, BIG_ENVELOPE, sender=owner)
            send("submit", r, slot, keccak(text=f"{r}:{slot}"), LONG_CID, [BIG_ENVELOPE] * CAP_EVALUATORS,
                 sender=s["trainer"])
        salts = {}
        for e in evaluators[:CAP_EVALUATORS]:
            salts[e] = os.urandom(32)
            send("commit", r, relay.commitmentFor(r, e, scores_of(e), salts[e]), sender=e)
        for e in evaluators[:CAP_EVALUATORS]:
            send("reveal", r, scores_of(e), salts[e], sender=e)
        send("settle", sender=genesis)

    # Round 0: one owner (genesis) serves all 128 trainers (k = 128); all accepted (s = 1).
    play_round(0, [genesis], trainers, lambda e: [500_000 + i for i in range(CAP_TRAINERS)])
    assert relay.layerOf(1) and len(relay.layerOf(1)) == CAP_TRAINERS
    # The 129th bidder of round 1 outbids nobody: refused.
    play_round(1, trainers, bidders, lambda e: [700_000 - i for i in range(CAP_TRAINERS)])
    assert len(relay.layerOf(2)) == CAP_TRAINERS
    with reverts("RelayBidTooLow"):
        relay.bid(2, 0, {"from": bidders[CAP_TRAINERS]})
    # Lineage claims: a bounded number of layers per call.
    send("claim", 0, 64, sender=genesis)

    print("\nlargest-round gas:", dict(sorted(gas.items())), "half a block:", half_block)
    over = {name: used for name, used in gas.items() if used >= half_block}
    assert not over, f"over half a block ({half_block}): {over}"


def instructions(code: bytes):
    """The opcodes of `code`, skipping PUSH1..PUSH32 immediate data."""
    i = 0
    while i < len(code):
        op = code[i]
        yield op
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


def test_bytecode_uses_no_cancun_opcode(relay, token):
    for contract in (relay, token):
        code = bytes(web3.eth.get_code(contract.address))
        # solc appends CBOR metadata (its length in the last two bytes): data, not code.
        executable = code[: len(code) - int.from_bytes(code[-2:], "big") - 2]
        found = {CANCUN_OPCODES[op] for op in instructions(executable) if op in CANCUN_OPCODES}
        assert not found, f"{contract._name} uses {sorted(found)}, which Shanghai lacks"
        assert 0x5F in set(instructions(executable))  # PUSH0 (Shanghai): the scan does see opcodes
