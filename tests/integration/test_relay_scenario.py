"""Twelve rounds with up to 12 trainers per round, several model owners and five
evaluators, including a round where nobody submits, an MO that never delivers, an
evaluator that never reveals, one that never commits, tied scores and an empty round.

Every action is mirrored into `derelayl.RelayProtocol`; after every round the contract
and the model must agree on every credit, the locked total, the lineage tree and
every model's claimable reward.
"""

import pytest
from brownie import accounts, chain
from scripts.relay import RoundScript, close_bidding, default_score, play_round

from derelayl import TEST_PARAMS, TOKEN, RelayProtocol
from scripts.deploy import GENESIS_CID, GENESIS_HASH, deploy

PARAMS = TEST_PARAMS.replace(k=4, max_trainers=32, max_evaluators=8, quorum=2)


def agreeing_score(evaluator, slot, trainer):
    """Evaluators agree within the tolerance: a per-evaluator offset of at most 0.02."""
    return default_score(evaluator, slot, trainer) + 10_000 * (int(evaluator.address, 16) % 3)


def tie_score(evaluator, slot, trainer):
    return 600_000


def assert_same_state(relay, token, model, everyone):
    assert token.balanceOf(relay) == relay.totalLocked() + relay.totalCredited()
    assert relay.totalLocked() == model.locked
    for a in everyone:
        assert relay.creditOf(a) == model.credit.get(a.address, 0), a
    assert relay.modelCount() == len(model.models)
    assert relay.layerCount() == len(model.layers)
    for m in model.models[1:]:
        on_chain = relay.modelOf(m.model_id)
        assert on_chain["creator"] == m.creator and on_chain["parentId"] == m.parent_id
        assert on_chain["score"] == m.score and on_chain["layer"] == m.layer
    for m in model.models:
        units, _ = relay.claimable(m.model_id, 1000)
        assert units + m.claimed_units == model.descendants(m.model_id)


@pytest.fixture(scope="module")
def scenario():
    deployer, genesis = accounts[0], accounts[1]
    pool = list(accounts[2:30])
    evaluators = list(accounts[30:35])
    everyone = [genesis, *pool, *evaluators]
    allocations = {a: 100 * TOKEN for a in everyone}
    token, relay = deploy(deployer, PARAMS, genesis, allocations)
    model = RelayProtocol(PARAMS, genesis.address, GENESIS_HASH, GENESIS_CID,
                          {a.address: v for a, v in allocations.items()},
                          chain_id=chain.id, contract=relay.address)
    return deployer, genesis, pool, evaluators, everyone, token, relay, model


def by_address(address):
    return next(a for a in accounts if a.address == address)


def test_twelve_rounds_match_the_protocol_model(scenario):
    deployer, genesis, pool, evaluators, everyone, token, relay, model = scenario
    history = []
    rotation = 0
    for r in range(12):
        owners = [by_address(addr) for addr in model.owner_models[model.model_layer(model.rounds[r].parent_layer)]]
        candidates = [a for a in pool if a not in owners]
        trainers = [candidates[(rotation + i) % len(candidates)] for i in range(12)]
        rotation += 5
        script = RoundScript(
            offers={o: (TOKEN // 10) * (1 + i % 2) for i, o in enumerate(owners)},
            bids={t: (TOKEN // 4) * (i % 3) for i, t in enumerate(trainers)},
            evaluators=evaluators,
            score=agreeing_score,
        )
        if r == 3:
            script.skip_submit = set(trainers)  # nobody submits
        if r == 5:
            script.withhold_keys = {owners[0]}  # an MO never delivers
        if r == 6:
            script.skip_reveal = {evaluators[0]}  # commits, never reveals
        if r == 7:
            script.score = tie_score  # every model ties
        if r == 9:
            script.bids = {}  # nobody bids
        if r == 10:
            script.skip_commit = {evaluators[1]}
        result = play_round(relay, script, deployer, model=model)
        history.append((r, len(owners), len(script.bids), result))
        assert_same_state(relay, token, model, everyone)

    outcomes = {r: set(res.outcomes.values()) for r, _, _, res in history}
    assert outcomes[3] == {"NotSubmitted"}
    assert "Undelivered" in outcomes[5]
    assert outcomes[9] == set()
    assert max(n for _, n, _, _ in history) >= 4  # rounds with at least 4 MOs
    assert max(b for _, _, b, _ in history) >= 12
    carried = [res.settle_tx.events["RoundSettled"]["carriedOver"] for _, _, _, res in history]
    assert carried[3] and carried[9] and not carried[0]
    penalties = {e["evaluator"]: e["penalty"] for e in history[6][3].settle_tx.events["EvaluatorSettled"]}
    assert penalties[evaluators[0]] > 0 and penalties[evaluators[2]] == 0
    penalties = {e["evaluator"]: e["penalty"] for e in history[10][3].settle_tx.events["EvaluatorSettled"]}
    assert penalties[evaluators[1]] > 0


    claims_and_withdrawals_empty_the_contract(scenario)


def claims_and_withdrawals_empty_the_contract(scenario):
    """After the relay: every lineage claimed, the open round settled, every credit
    withdrawn; the contract ends with nothing and the supply is all in wallets."""
    deployer, genesis, pool, evaluators, everyone, token, relay, model = scenario
    for m in range(relay.modelCount()):
        if relay.claimable(m, 1000)[0] > 0:
            relay.claim(m, 1000, {"from": deployer})
            model.claim(m, 1000)
    assert_same_state(relay, token, model, everyone)
    # Settle the open round so nothing stays locked, then everybody withdraws.
    close_bidding(relay, {"from": deployer})
    model.close_bidding(bytes(relay.roundInfo(relay.currentRound())["seed"]))
    relay.settle({"from": deployer})
    model.settle()
    for a in everyone:
        credit = relay.creditOf(a)
        if credit > 0:
            relay.withdraw(credit, {"from": a})
    assert relay.totalLocked() == 0 and relay.totalCredited() == 0
    assert token.balanceOf(relay) == 0
    assert token.totalSupply() == sum(token.balanceOf(a) for a in everyone)
    assert token.totalSupply() == model.total_supply
