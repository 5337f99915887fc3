"""Limits: the largest rounds the caps allow, and the bytecode's opcodes.

- Every external function stays within a third of the block gas limit at the largest round
  the caps allow. The test plays 64 trainers, a pool of 40 evaluator stakers (5 a
  seat) and then 64 model owners, with every deposit non-zero and every model
  accepted (s = 1). That exercises closeBidding with 64 bids, 64 offers and a draw of
  8 seats from 40 stakers, reclaimStake by the 32 left out, submit with 8 envelopes
  of the largest size and the longest CID, reveal of 64 scores, and settle of 64
  slots x 8 evaluators. The evaluator pool has no cap: nothing loops over it (the
  draw costs the same for any pool, tests/unitary/RelayLearning/test_bidding.py). With 128 x 32 (the first caps) settle needed more than a whole 30M
  block, so a full round could never settle. The caps are now 64 trainers, 16
  evaluators and 512 scores a round.
- The merge relay (MergeRelayLearning) plays the same largest rounds, every slot's
  keys in one bundle of the largest size (64 keys), its settle appending 64 models.
- A participant beyond a cap is refused: one bid too many (unless it outbids the
  lowest).
- The deployed bytecode uses no opcode that the Shanghai fork (Ganache's) lacks:
  TLOAD, TSTORE and MCOPY came with Cancun.
"""

from __future__ import annotations

import os

import pytest
from brownie import accounts, web3
from eth_utils import keccak

from eth_account import Account

from conftest import fresh_accounts, report, reverts
from derelayl.chain import ErrorDecoder
from derelayl.chain import send as chain_send
from derelayl import transactions
from derelayl import TEST_PARAMS, TOKEN
from scripts.deploy import deploy

# The corner of the caps (64 trainers, 16 evaluators, at most 512 scores a round)
# that costs settle the most: 64 x 8. `DERELAYL_LIMITS=32x16` plays the other corner.
CAP_TRAINERS, CAP_EVALUATORS = (int(x) for x in os.environ.get("DERELAYL_LIMITS", "64x8").split("x"))
LARGEST = TEST_PARAMS.replace(k=CAP_TRAINERS, selection_permille=1000, max_trainers=CAP_TRAINERS,
                                 max_evaluators=CAP_EVALUATORS, quorum=CAP_EVALUATORS, evaluator_stake=TOKEN)
BIG_ENVELOPE = b"\xee" * 512
BIG_BUNDLE = b"\xee" * (CAP_TRAINERS * 32 + 48)  # every key of a layer of 64 models, sealed
LONG_CID = "Q" * 128
CANCUN_OPCODES = {0x5C: "TLOAD", 0x5D: "TSTORE", 0x5E: "MCOPY"}


@pytest.mark.parametrize("merge", [False, True], ids=["plain relay", "merge relay"])
def test_largest_rounds_stay_under_a_third_of_a_block(merge, monkeypatch):
    """Issue 18's goal: the largest round the caps allow plays every call in at most a
    third of the block gas limit (room for other transactions in the same block)."""
    # Its 650 transactions one after another: Anvil mines just after it answers, so the
    # SDK's first look for a receipt often misses and its next comes 0.25 s later
    # (a participant's pace on 1-second blocks): 214 s of this test's 2 relays on Anvil.
    monkeypatch.setattr(transactions, "RECEIPT_POLL_SECONDS", 0.01)
    third_block = web3.eth.get_block("latest")["gasLimit"] // 3
    genesis = fresh_accounts(1)[0]
    trainers = fresh_accounts(CAP_TRAINERS)  # round 0's trainers, round 1's model owners
    bidders = fresh_accounts(CAP_TRAINERS + 1)  # round 1's trainers, and one too many
    evaluators = fresh_accounts(5 * CAP_EVALUATORS)
    # Everyone holds credit, so that every deposit is non-zero: refunds then write
    # credits and emit events, which is the costliest settlement.
    _, relay = deploy(accounts[0], LARGEST, genesis,
                      {a: 100 * TOKEN for a in [genesis, *trainers, *bidders, *evaluators]},
                      merge_horizon=10 if merge else 0)
    by_address = {a.address: a for a in [genesis, *trainers, *bidders, *evaluators]}
    gas: dict[str, int] = {}

    contract = web3.eth.contract(address=relay.address, abi=relay.abi)
    decoder = ErrorDecoder([relay.abi])

    def send(name, *args, sender):
        """Signs and sends with a limit of exactly a third of a block: a call that needs more
        fails (and the replay names the error). No gas estimate: Ganache's estimate of a
        settle this size takes longer than a minute. No `eth_call` check before it either
        (check=False): the node would run every call twice; a revert is decoded from the
        receipt all the same."""
        account = Account.from_key(sender.private_key)
        try:
            receipt = chain_send(web3, account, getattr(contract.functions, name)(*args), decoder, gas=third_block,
                                 check=False)
        except Exception as exc:  # noqa: BLE001 - measure what it would need, then fail
            full = chain_send(web3, account, getattr(contract.functions, name)(*args), decoder, gas=3 * third_block)
            raise AssertionError(f"{name} needs {full['gasUsed']:,} gas, over a third of a block ({third_block:,}); "
                                 f"gas so far {gas}") from exc
        gas[name] = max(gas.get(name, 0), receipt["gasUsed"])
        return receipt

    for a in by_address.values():
        send("registerKey", keccak(text=f"key:{a.address}"), sender=a)

    def play_round(r: int, owners, players, scores_of, holder=None):
        """One round: every owner offers (a merge relay: nobody; `holder` bundles every
        slot's keys), every player bids, every slot is delivered and submitted."""
        extra_bidder = bidders[CAP_TRAINERS]
        for e in evaluators:
            send("stakeEvaluator", r, sender=e)
        for owner in owners if not merge else ():
            send("offer", r, TOKEN // 100, sender=owner)
        for i, t in enumerate(players[:CAP_TRAINERS]):
            send("bid", r, TOKEN + i, sender=t)
        with reverts("RelayBidTooLow"):  # one bidder too many, outbidding nobody
            relay.bid(r, TOKEN, {"from": extra_bidder})
        send("closeBidding", sender=genesis)  # locks
        send("closeBidding", sender=genesis)  # draws and matches, in the next block
        info = relay.roundInfo(r)
        assert info["slotCount"] == CAP_TRAINERS and info["offerCount"] == (0 if merge else len(owners))
        seated = [by_address[a] for a in relay.evaluatorsOf(r)]
        assert len(seated) == CAP_EVALUATORS
        for e in evaluators:
            if e not in seated:
                send("reclaimStake", r, sender=e)
        for slot in range(CAP_TRAINERS):
            s = relay.slotOf(r, slot)
            if merge:
                send("deliverBundle", r, slot, BIG_BUNDLE, sender=holder)
            else:
                send("deliverKey", r, slot, BIG_ENVELOPE, sender=by_address[relay.modelOf(s["parentId"])["creator"]])
            send("submit", r, slot, keccak(text=f"{r}:{slot}"), LONG_CID, [BIG_ENVELOPE] * CAP_EVALUATORS,
                 sender=by_address[s["trainer"]])
        salts = {}
        for e in seated:
            salts[e] = os.urandom(32)
            send("commit", r, relay.commitmentFor(r, e, scores_of(e), salts[e]), sender=e)
        for e in seated:
            send("reveal", r, scores_of(e), salts[e], sender=e)
        send("settle", sender=genesis)
        return seated

    # Round 0: one owner (genesis) serves every trainer (k = the cap); all accepted (s = 1).
    seated = play_round(0, [genesis], trainers, lambda e: [500_000 + i for i in range(CAP_TRAINERS)], genesis)
    assert relay.layerOf(1) and len(relay.layerOf(1)) == CAP_TRAINERS
    # Round 1: as many owners offer (a merge relay: a key holder of layer 1 bundles), as
    # many new trainers bid.
    play_round(1, trainers, bidders, lambda e: [700_000 - i for i in range(CAP_TRAINERS)], seated[0])
    assert len(relay.layerOf(2)) == CAP_TRAINERS
    # Lineage claims: a bounded number of layers per call.
    send("claim", 0, 64, sender=genesis)

    report(f"largest-round gas ({'merge' if merge else 'plain'} relay): {dict(sorted(gas.items()))} "
           f"a third of a block: {third_block}")
    over = {name: used for name, used in gas.items() if used > third_block}
    assert not over, f"over a third of a block ({third_block}): {over}"


def instructions(code: bytes):
    """The opcodes of `code`, skipping PUSH1..PUSH32 immediate data."""
    i = 0
    while i < len(code):
        op = code[i]
        yield op
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


def test_bytecode_uses_no_cancun_opcode(relay, token):
    merge_relay = deploy(accounts[0], TEST_PARAMS, accounts[1], {}, merge_horizon=1)[1]
    for contract in (relay, merge_relay, token):
        code = bytes(web3.eth.get_code(contract.address))
        # solc appends CBOR metadata (its length in the last two bytes): data, not code.
        executable = code[: len(code) - int.from_bytes(code[-2:], "big") - 2]
        found = {CANCUN_OPCODES[op] for op in instructions(executable) if op in CANCUN_OPCODES}
        assert not found, f"{contract._name} uses {sorted(found)}, which Shanghai lacks"
        assert 0x5F in set(instructions(executable))  # PUSH0 (Shanghai): the scan does see opcodes
