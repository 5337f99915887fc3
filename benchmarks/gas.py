"""Gas benchmark of the RelayLearning contract (a brownie script).

    make gas        # = tools/brownie-on-chain.sh run $PWD/benchmarks/gas.py

Plays rounds on a Ganache that brownie starts and measures:
- the gas of every external function in a typical round (2 MOs, 8 trainers, 4 evaluators);
- `settle` gas per submitted model and `claim` gas per lineage layer at depth 2, 50
  and 200 (one accepted model per round, so depth = rounds played);
- `closeBidding` with 8 seats and evaluator pools of 8, 80 and 320 stakers, and
  `reclaimStake` (a staker the draw left out takes its stake back);
- one complete relay turn (bid + submit + share of settle + claim of one layer) next to
  an OpenZeppelin ERC20 transfer measured in the same run.
Writes benchmarks/results/gas.json, docs/gas.md and the per-function snapshot
benchmarks/results/gas-snapshot.json (execution gas: less the base and calldata
cost, which move with the round's seed; one set of figures per chain: `make gas
CHAIN=anvil` writes only Anvil's), which `make test` checks
(tests/integration/test_gas_snapshot.py): commit it with any change to the contracts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from brownie import accounts, chain, network
from scripts.deploy import deploy
from scripts.receipts import wait_for_receipts
from scripts.gas_round import (SNAPSHOT, by_address, chain_name, execution_gas, merge_round_gas, merge_turn_parts,
                               record_snapshot, relay_turn_parts, typical_round_gas)
from scripts.relay import RoundScript, play_round

from derelayl import TEST_PARAMS, TOKEN

ROOT = Path(__file__).resolve().parent.parent
DEPTHS = (2, 50, 200)


def lineage_depth_gas() -> dict:
    """One accepted model per round for 200 rounds; settle and claim gas at 2, 50, 200."""
    params = TEST_PARAMS.replace(k=2, max_trainers=4, max_evaluators=2, quorum=1)
    genesis, pool, evaluator = accounts[1], list(accounts[2:12]), accounts[12]
    token, relay = deploy(accounts[0], params, genesis, {evaluator: 1000 * TOKEN})
    settle_per_model: dict[str, int] = {}
    owner = genesis
    started = time.time()
    for r in range(max(DEPTHS)):
        trainers = [a for a in pool if a != owner][(2 * r) % 8 :][:2] or [a for a in pool if a != owner][:2]
        result = play_round(relay, RoundScript(offers={owner: 0}, bids={t: 0 for t in trainers},
                                               evaluators=[evaluator]), accounts[0])
        depth = relay.layerCount() - 1
        if depth in DEPTHS:
            settle_per_model[str(depth)] = result.settle_tx.gas_used // len(result.slots)
        owner = by_address(result.accepted[0][2])
        if r % 20 == 19:
            print(f"  lineage depth {depth} after {time.time() - started:.0f} s")
    claim_per_layer: dict[str, int] = {}
    claim_total: dict[str, int] = {}
    last = relay.layerCount() - 1
    for d in DEPTHS:
        model_id = relay.layerOf(last - d)[0]  # never claimed: exactly d layers below it
        tx = relay.claim(model_id, d, {"from": accounts[0]})
        assert tx.return_value == d
        claim_total[str(d)] = tx.gas_used
        claim_per_layer[str(d)] = tx.gas_used // d
    return {"settle_gas_per_model": settle_per_model, "claim_gas_per_layer": claim_per_layer,
            "claim_gas_total": claim_total}


POOL_SIZES = (8, 80, 320)


def evaluator_pool_gas() -> dict[str, int]:
    """closeBidding with 8 seats and pools of POOL_SIZES stakers (the draw swaps 8
    entries in place whatever the pool), and reclaimStake by a staker left out."""
    params = TEST_PARAMS.replace(k=2, max_trainers=4, max_evaluators=8, quorum=1)
    stakers = [accounts.add() for _ in range(max(POOL_SIZES))]
    for a in stakers:
        accounts[0].transfer(a, "1 ether", silent=True)
    figures, reclaim = {}, {}
    for size in POOL_SIZES:
        pool = stakers[:size]
        # One allocation, handed out by ERC20 transfers: a constructor with hundreds of
        # allocations would exceed the initcode size limit (49,152 bytes).
        token, relay = deploy(accounts[0], params, accounts[1], {accounts[0]: 10 * TOKEN * size})
        relay.withdraw(10 * TOKEN * size, {"from": accounts[0], "silent": True})
        for a in pool:
            token.transfer(a, 10 * TOKEN, {"from": accounts[0], "silent": True})
            token.approve(relay, 10 * TOKEN, {"from": a, "silent": True})
            relay.registerKey(b"\x11" * 32, {"from": a, "silent": True})
            relay.stakeEvaluator(0, {"from": a, "silent": True})
        relay.offer(0, 0, {"from": accounts[1]})
        chain.sleep(params.bidding_duration + 1)
        relay.closeBidding({"from": accounts[0]})  # the lock
        figures[f"closeBidding, pool {size}"] = relay.closeBidding({"from": accounts[0]}).gas_used  # the draw
        drawn = set(relay.evaluatorsOf(0))
        left_out = next((a for a in pool if a.address not in drawn), None)
        if left_out is not None:
            reclaim["reclaimStake"] = relay.reclaimStake(0, {"from": left_out}).gas_used
    return figures | reclaim


def erc20_transfer_gas() -> dict[str, int]:
    """An OpenZeppelin ERC20 transfer (RelayToken is a plain OZ ERC20 for transfers)."""
    holder = accounts[1]
    token, relay = deploy(accounts[0], TEST_PARAMS, holder, {holder: 10 * TOKEN})
    relay.withdraw(10 * TOKEN, {"from": holder})
    new = token.transfer(accounts[35], TOKEN, {"from": holder}).gas_used
    existing = token.transfer(accounts[35], TOKEN, {"from": holder}).gas_used
    return {"new_holder": new, "existing_holder": existing}


def write_table(result: dict, path: Path) -> None:
    per = result["per_function"]
    lines = [
        "# Gas of the DeRelayL contracts",
        "",
        "Measured by `make gas` (benchmarks/gas.py) on Ganache 7.9.2 (shanghai), solc 0.8.28",
        "(viaIR, optimizer 200 runs). Raw figures: benchmarks/results/gas.json.",
        "",
        "The same scenario's execution gas (less the 21,000 base and the calldata, which move",
        "with the slot numbers the round's seed decides) is the snapshot",
        "benchmarks/results/gas-snapshot.json (one set per chain): `make test` fails when any function's figure",
        "differs from it (tests/integration/test_gas_snapshot.py), so a change to the",
        "contracts commits the snapshot that `make gas` rewrites. Where a relay turn's gas",
        "goes, storage write by storage write: docs/gas-writes.md (`make gas-writes`).",
        "",
        "## Every external function (median over a typical round: 2 MOs, 8 trainers, 4 evaluators)",
        "",
        "| function | gas |",
        "|---|---:|",
        *[f"| {name} | {gas:,} |" for name, gas in per.items()],
        "",
        "## The evaluator pool",
        "",
        "`closeBidding` with 8 seats (one offer, no bid) and pools of different sizes: the draw",
        "swaps 8 entries in place, and the stakers left out take their stakes back themselves.",
        "",
        "| call | gas |",
        "|---|---:|",
        *[f"| {name} | {gas:,} |" for name, gas in result["evaluator_pool"].items()],
        "",
        "## Lineage depth",
        "",
        "One accepted model per round, so the depth is the number of rounds played.",
        "",
        "| depth | settle gas per submitted model | claim gas per layer | claim gas (whole call) |",
        "|---:|---:|---:|---:|",
        *[
            f"| {d} | {result['settle_gas_per_model'][d]:,} | {result['claim_gas_per_layer'][d]:,} "
            f"| {result['claim_gas_total'][d]:,} |"
            for d in result["settle_gas_per_model"]
        ],
        "",
        f"Ratio depth 200 / depth 2: settle per model {result['ratios']['settle_200_over_2']:.3f}, "
        f"claim per layer {result['ratios']['claim_200_over_2']:.3f} "
        "(the per-layer figure at depth 2 carries the 21,000 base cost of the call over only two layers;",
        f"the marginal cost of one more layer is {result['claim_marginal_gas_per_layer']:,} gas).",
        "",
        "## One relay turn against an ERC20 transfer",
        "",
        f"- one complete relay turn (bid + submit + share of settle + claim of one layer): "
        f"**{result['relay_turn_gas']:,} gas**",
        f"- OpenZeppelin ERC20 transfer in the same run: {result['erc20_transfer_gas']:,} gas to a new holder, "
        f"{result['erc20_transfer_gas_existing_holder']:,} to an existing one",
        f"- ratio: {result['relay_turn_gas'] / result['erc20_transfer_gas']:.1f} transfers",
        f"- the goal of 4 transfers is {4 * result['erc20_transfer_gas']:,} gas; which storage writes stand "
        "between the turn and it, with their gas: docs/gas-writes.md (`make gas` runs `make gas-writes` next)",
        "",
        "## The merge relay (MergeRelayLearning, docs/merge.md)",
        "",
        "Two rounds, every submission accepted: genesis -> 4 trainers (its owner bundles its key) -> 8",
        "trainers (an evaluator of round 0 bundles the layer's 4 keys, 80-byte envelopes), then the",
        "first claims of the genesis and of a model of layer 1 (median gas per function):",
        "",
        "| function | gas |",
        "|---|---:|",
        *[f"| {name} | {gas:,} |" for name, gas in result["merge_per_function"].items()],
        "",
        f"- one merge relay turn (bid + its bundle + submit + an eighth of the 8-slot settle + claim): "
        f"**{result['merge_turn_gas']:,} gas**, "
        f"{result['merge_turn_gas'] / result['erc20_transfer_gas']:.1f} ERC20 transfers "
        f"({', '.join(f'{k} {v:,}' for k, v in result['merge_turn_parts'].items())})",
        "- a claim reads a fixed number of words whatever the depth "
        "(tests/unitary/MergeRelayLearning: the same gas 1 and 10 layers deep)",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    wait_for_receipts()
    started = time.time()
    print(f"gas benchmark on {network.show_active()}")
    chain.snapshot()  # the scenarios need their deployers unused: they play twice from here
    per_function = typical_round_gas()
    merge_per_function = merge_round_gas()
    chain.revert()
    snapshot = typical_round_gas(execution_gas) | merge_round_gas(execution_gas)
    print("execution gas per function (the snapshot):", snapshot)
    record_snapshot(snapshot)  # written at once: the rest of the benchmark takes minutes
    print("per function:", per_function)
    pool = evaluator_pool_gas()
    print("evaluator pool:", pool)
    depth = lineage_depth_gas()
    transfer = erc20_transfer_gas()
    per_model = depth["settle_gas_per_model"]
    claim = depth["claim_gas_per_layer"]
    turn = relay_turn_parts(per_function)
    merge_turn = merge_turn_parts(merge_per_function)
    result = {
        "per_function": per_function,
        "evaluator_pool": pool,
        **depth,
        "ratios": {"settle_200_over_2": per_model["200"] / per_model["2"],
                   "claim_200_over_2": claim["200"] / claim["2"]},
        "claim_marginal_gas_per_layer": (depth["claim_gas_total"]["200"] - depth["claim_gas_total"]["50"]) // 150,
        "relay_turn_gas": sum(turn.values()),
        "relay_turn_parts": turn,
        "merge_per_function": merge_per_function,
        "merge_turn_gas": sum(merge_turn.values()),
        "merge_turn_parts": merge_turn,
        "erc20_transfer_gas": transfer["new_holder"],
        "erc20_transfer_gas_existing_holder": transfer["existing_holder"],
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(result, indent=2))
    if chain_name() != "ganache":  # gas.json and docs/gas.md are Ganache's figures
        print(f"written the {chain_name()} figures of {SNAPSHOT} (gas.json and docs/gas.md are Ganache's)")
        return
    out = ROOT / "benchmarks" / "results" / "gas.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_table(result, ROOT / "docs" / "gas.md")
    print(f"written {out}, {SNAPSHOT} and docs/gas.md")
