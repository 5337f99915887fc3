"""The scripted relay (`make demo-scripted`): deploy on a Ganache brownie starts, play
rounds with scripted participants (stand-in weights, no training) and print what
happened. `make demo` runs the real relay instead (`derelayl demo`).

    tools/brownie-on-chain.sh run scripts/demo.py
"""

from __future__ import annotations

from brownie import accounts, chain, network
from scripts.deploy import deploy, save_addresses
from scripts.relay import RoundScript, play_round
from scripts.receipts import wait_for_receipts

from derelayl import TEST_PARAMS, SCORE_SCALE, TOKEN

ROUNDS = 2
PARAMS = TEST_PARAMS.replace(k=4, max_trainers=16, max_evaluators=4, quorum=2)


def name_of(address: str, names: dict[str, str]) -> str:
    return names.get(address, address[:10])


def main() -> None:
    wait_for_receipts()
    deployer, genesis = accounts[0], accounts[1]
    trainers, evaluators = list(accounts[2:14]), list(accounts[14:17])
    names = {genesis.address: "genesis", **{t.address: f"trainer{i}" for i, t in enumerate(trainers)},
             **{e.address: f"evaluator{i}" for i, e in enumerate(evaluators)}}
    everyone = [genesis, *trainers, *evaluators]
    token, relay = deploy(deployer, PARAMS, genesis, {a: 10 * TOKEN for a in everyone})
    path = save_addresses(token, relay)
    print(f"\nDeRelayL scripted demo on {network.show_active()} (chain id {chain.id})")
    print(f"RelayToken {token.address}, RelayLearning {relay.address} (saved to {path})")
    print(f"k={PARAMS.k}, s={PARAMS.selection_permille / 1000}, quorum={PARAMS.quorum}; "
          f"everyone starts with 10 DRL of credit\n")

    owners = [genesis]
    used = 0
    for _ in range(ROUNDS):
        bidders = [t for t in trainers if t not in owners][used % 4 : used % 4 + PARAMS.k * len(owners)]
        used += len(bidders)
        script = RoundScript(
            offers={o: TOKEN // 10 for o in owners},
            bids={t: TOKEN // 10 * (1 + i % 3) for i, t in enumerate(bidders)},
            evaluators=evaluators,
        )
        result = play_round(relay, script, deployer)
        accepted = {slot_model[2]: slot_model for slot_model in result.accepted}
        print(f"round {result.round}: {len(owners)} model owner(s), {len(bidders)} trainers, "
              f"{len(evaluators)} evaluators")
        print(f"  {'slot':>4}  {'trainer':<10} {'parent':>6} {'bid DRL':>8}  outcome")
        for i, slot in enumerate(result.slots):
            print(f"  {i:>4}  {name_of(slot['trainer'], names):<10} {slot['parentId']:>6} "
                  f"{slot['bid'] / TOKEN:>8.2f}  {result.outcomes.get(i, '?')}")
        for model_id, parent_id, creator, score in result.accepted:
            print(f"  accepted model {model_id} (parent {parent_id}) by {name_of(creator, names)}, "
                  f"median score {score / SCORE_SCALE:.3f}")
        print(f"  settle gas {result.settle_tx.gas_used:,}\n")
        owners = [a for a in everyone if a.address in accepted]

    relay.claim(0, 10, {"from": deployer}, silent=True)
    print("lineage: genesis claimed", relay.modelOf(0)["claimedUnits"], "descendant(s)")
    print(f"{'participant':<12} {'credit DRL':>10}")
    for a in everyone:
        print(f"{name_of(a.address, names):<12} {relay.creditOf(a) / TOKEN:>10.3f}")
    print(f"\ntokens held by the contract: {token.balanceOf(relay) / TOKEN:.3f} "
          f"= locked {relay.totalLocked() / TOKEN:.3f} + credited {relay.totalCredited() / TOKEN:.3f}")
