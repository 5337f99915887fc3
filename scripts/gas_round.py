"""The gas of every external function of RelayLearning in one scripted relay (a
typical round, then the rarer paths), and of MergeRelayLearning's round in another
(`merge_round_gas`, names prefixed "merge: "), for the gas benchmark and the snapshot
check (`snapshot_gas`: both).

`typical_round_gas` is deterministic: the scripted participants send the same calldata
every run (their salts are derived, not random, and the relay's address is always the
same), so the same contract gives the same figures. `make gas` writes their execution
gas (`execution_gas`) to SNAPSHOT (benchmarks/results/gas-snapshot.json) beside the
benchmark; tests/integration/test_gas_snapshot.py measures them again and fails when
a function's gas differs from the committed snapshot.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from brownie import accounts, web3

from derelayl import TEST_PARAMS, TOKEN
from scripts.deploy import deploy
from scripts.relay import RoundScript, close_bidding, play_round
from scripts.receipts import wait_for_receipts

SNAPSHOT = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "gas-snapshot.json"


def by_address(address):
    return next(a for a in accounts if a.address == address)


def chain_name() -> str:
    """"anvil" or "ganache", from the node's client version: the snapshot keeps one set of
    figures per chain (Anvil charges settle 949 gas more than Ganache 7.9.2 for the
    same calls)."""
    return "anvil" if web3.client_version.lower().startswith("anvil") else "ganache"


def gas_used(tx) -> int:
    """What the transaction paid for: its gas used."""
    return tx.gas_used


def execution_gas(tx) -> int:
    """Gas used less the transaction's base cost and calldata (21,000, then 4 per zero
    byte and 16 per other byte): what the contract's code cost. Unlike the gas used, it
    does not move with the bytes of the slot numbers and hashes the call carries,
    which the round's seed (a block hash) decides."""
    data = bytes.fromhex(tx.input[2:])
    return tx.gas_used - 21_000 - sum(4 if byte == 0 else 16 for byte in data)


def relay_turn_parts(figures: dict[str, int]) -> dict[str, int]:
    """One relay turn from `typical_round_gas`'s figures: a bid, a submission, an eighth
    of the settle (the round has 8 slots) and a claim of one layer."""
    return {"bid": figures["bid"], "submit": figures["submit"], "settle_share": figures["settle"] // 8,
            "claim": figures["claim (1 layer)"]}


def typical_round_gas(of: Callable = gas_used) -> dict[str, int]:
    """Median gas per function (`of` each transaction: `gas_used` or `execution_gas`)
    over two rounds, genesis -> 2 MOs -> 8 trainers, then the rarer paths."""
    params = TEST_PARAMS.replace(k=4, max_trainers=16, max_evaluators=4, quorum=2)
    genesis, pool, evaluators = accounts[1], list(accounts[2:22]), list(accounts[22:26])
    holders = [genesis, *pool, *evaluators, accounts[26]]
    # A deployer nothing else uses, at nonce 0: the relay's address, which goes into every
    # commitment (calldata whose zero bytes cost less), is the same in every run.
    deployer = accounts[39]
    if deployer.nonce != 0:
        raise RuntimeError(f"the gas scenario needs {deployer} unused (nonce {deployer.nonce}): "
                           "run it on a fresh chain")
    token, relay = deploy(deployer, params, genesis, {a: 100 * TOKEN for a in holders})
    gas: dict[str, list[int]] = {}
    owners = [genesis]
    for r in range(2):
        trainers = [a for a in pool if a not in owners][r * 8 : r * 8 + 4 * len(owners)]
        script = RoundScript(offers={o: TOKEN // 10 for o in owners},
                             bids={t: TOKEN // (2 + i) for i, t in enumerate(trainers)}, evaluators=evaluators)
        result = play_round(relay, script, accounts[0])
        for name, txs in result.transactions.items():
            gas.setdefault(name, []).extend(of(tx) for tx in txs)
        owners = [by_address(c) for _, _, c, _ in result.accepted]
    figures = {name: int(statistics.median(values)) for name, values in gas.items()}
    figures["registerKey"] = of(relay.registerKey(b"\x11" * 32, {"from": accounts[30]}))
    figures["claim (1 layer)"] = of(relay.claim(1, 1, {"from": accounts[0]}))
    figures["withdraw"] = of(relay.withdraw(TOKEN, {"from": evaluators[0]}))
    # a round where MOs withhold their keys: courierKey (an evaluator of the round that
    # accepted them delivers one), reclaimUndelivered and closeTraining; and one MO
    # delivers a key that does not open its model: requestKey, then courierKey
    r = relay.currentRound()
    for o in owners:
        relay.offer(r, 0, {"from": o})
    trainers = [a for a in pool if a not in owners][:3]
    for t in trainers:
        relay.bid(r, 0, {"from": t})
    close_bidding(relay, {"from": accounts[0]})
    couriered = relay.trainerSlot(r, trainers[1])[1]
    figures["courierKey"] = of(relay.courierKey(r, couriered, b"\x5e" * 80, {"from": evaluators[0]}))
    garbage = relay.trainerSlot(r, trainers[2])[1]
    owner = by_address(relay.modelOf(relay.slotOf(r, garbage)["parentId"])["creator"])
    relay.deliverKey(r, garbage, b"\xee" * 80, {"from": owner})
    figures["requestKey"] = of(relay.requestKey(r, garbage, {"from": trainers[2]}))
    figures["courierKey (after the MO's key failed)"] = of(relay.courierKey(
        r, garbage, b"\x5e" * 80, {"from": evaluators[0]}))
    figures["closeTraining"] = of(relay.closeTraining({"from": accounts[0]}))
    slot = relay.trainerSlot(r, trainers[0])[1]
    figures["reclaimUndelivered"] = of(relay.reclaimUndelivered(r, slot, {"from": trainers[0]}))
    relay.settle({"from": accounts[0]})
    # a round nobody offers in; in the next, a courier offers a model of the layer (courierOffer),
    # which gets one submission and an evaluator that never commits (closeCommit)
    close_bidding(relay, {"from": accounts[0]})
    relay.settle({"from": accounts[0]})
    r = relay.currentRound()
    model_id = relay.layerOf(relay.roundInfo(r)["parentLayer"])[0]
    figures["courierOffer"] = of(relay.courierOffer(r, model_id, {"from": evaluators[0]}))
    for e in evaluators[:1]:
        relay.stakeEvaluator(r, {"from": e})
    relay.bid(r, 0, {"from": trainers[0]})
    close_bidding(relay, {"from": accounts[0]})
    relay.deliverKey(r, 0, b"\x5e" * 80, {"from": by_address(relay.modelOf(model_id)["creator"])})
    relay.submit(r, 0, b"\x01" * 32, "QmClosedCommit", [b"\x5e" * 80], {"from": trainers[0]})
    figures["closeCommit"] = of(relay.closeCommit({"from": accounts[0]}))
    # a round with 5 stakers for the 4 seats: the one the draw leaves out takes its stake back
    relay.settle({"from": accounts[0]})
    r = relay.currentRound()
    stakers = [*evaluators, accounts[26]]
    relay.registerKey(b"\x26" * 32, {"from": accounts[26]})
    for e in stakers:
        relay.stakeEvaluator(r, {"from": e})
    close_bidding(relay, {"from": accounts[0]})
    seated = set(relay.evaluatorsOf(r))
    undrawn = next(e for e in stakers if e.address not in seated)
    figures["reclaimStake"] = of(relay.reclaimStake(r, {"from": undrawn}))
    return dict(sorted(figures.items()))


MERGE = "merge: "


def merge_round_gas(of: Callable = gas_used) -> dict[str, int]:
    """Median gas per function of MergeRelayLearning (names prefixed MERGE) over two
    rounds, every submission accepted: genesis -> 4 trainers (its owner bundles its key)
    -> 8 trainers (an evaluator of round 0 bundles the layer's 4 keys); then the first
    claims of the genesis and of a model of layer 1."""
    params = TEST_PARAMS.replace(k=4, max_trainers=16, max_evaluators=4, quorum=2, selection_permille=1000)
    genesis, pool, evaluators = accounts[1], list(accounts[2:22]), list(accounts[22:26])
    deployer = accounts[38]  # unused elsewhere, at nonce 0: the same relay address every run
    if deployer.nonce != 0:
        raise RuntimeError(f"the merge gas scenario needs {deployer} unused (nonce {deployer.nonce}): "
                           "run it on a fresh chain")
    token, relay = deploy(deployer, params, genesis, {a: 100 * TOKEN for a in [genesis, *pool, *evaluators]},
                          merge_horizon=10)
    gas: dict[str, list[int]] = {}
    owners, holder = [genesis], genesis
    for r in range(2):
        trainers = [a for a in pool if a not in owners][: 4 * len(owners) if r == 0 else 8]
        script = RoundScript(bids={t: TOKEN // (2 + i) for i, t in enumerate(trainers)}, evaluators=evaluators,
                             bundle_from=holder)
        result = play_round(relay, script, accounts[0])
        for name, txs in result.transactions.items():
            gas.setdefault(name, []).extend(of(tx) for tx in txs)
        owners, holder = [by_address(c) for _, _, c, _ in result.accepted], evaluators[0]
    figures = {name: int(statistics.median(values)) for name, values in gas.items()}
    figures["settle (8 slots)"] = of(result.settle_tx)
    figures["claim (genesis)"] = of(relay.claim(0, 1, {"from": accounts[0]}))
    figures["claim (layer 1)"] = of(relay.claim(1, 1, {"from": accounts[0]}))
    return {MERGE + name: value for name, value in sorted(figures.items())}


def merge_turn_parts(figures: dict[str, int]) -> dict[str, int]:
    """One merge relay turn from `merge_round_gas`'s figures: a bid, its bundle, a
    submission, an eighth of the 8-slot settle and a claim of a layer-1 model."""
    return {"bid": figures[MERGE + "bid"], "deliverBundle": figures[MERGE + "deliverBundle"],
            "submit": figures[MERGE + "submit"], "settle_share": figures[MERGE + "settle (8 slots)"] // 8,
            "claim": figures[MERGE + "claim (layer 1)"]}


def snapshot_gas(of: Callable = execution_gas) -> dict[str, int]:
    """Every figure the snapshot keeps: RelayLearning's, then MergeRelayLearning's."""
    return typical_round_gas(of) | merge_round_gas(of)


def record_snapshot(snapshot: dict[str, int]) -> None:
    """Writes `snapshot` as the current chain's figures of SNAPSHOT (the other chain's stay)."""
    import json

    recorded = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    recorded[chain_name()] = snapshot
    SNAPSHOT.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def main() -> None:
    """`make gas-snapshot` (a brownie script): measures the execution gas of every
    function on the current chain and writes its figures of SNAPSHOT."""
    wait_for_receipts()
    snapshot = snapshot_gas(execution_gas)
    record_snapshot(snapshot)
    print(f"{chain_name()}: {snapshot}")
    print(f"written the {chain_name()} figures of {SNAPSHOT}")

