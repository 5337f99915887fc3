"""claim, claimable and the lineage layers."""

import pytest
from brownie import accounts
from conftest import reverts
from scripts.relay import RoundScript, play_round

from derelayl import TOKEN


def descendants(relay, model_id):
    """Brute force: walk every model's parent chain."""
    count = 0
    for m in range(1, relay.modelCount()):
        node = m
        while node != 0:
            node = relay.modelOf(node)["parentId"]
            if node == model_id:
                count += 1
                break
    return count


@pytest.fixture
def three_generations(relay, trainers, evaluators, genesis_owner):
    """Three rounds: genesis -> 1 model -> 2 models (k = 2) -> 2 models."""
    owners = [genesis_owner]
    pool = list(trainers)
    for _ in range(3):
        bids = {pool.pop(0): 0 for _ in range(2 * len(owners))}
        result = play_round(relay, RoundScript(offers={o: 0 for o in owners}, bids=bids, evaluators=evaluators[:2]), genesis_owner)
        owners = [a for a in accounts if a.address in {c for _, _, c, _ in result.accepted}]
    return relay


def test_claim_pays_one_unit_per_accepted_descendant(three_generations, genesis_owner, params):
    relay = three_generations
    expected = descendants(relay, 0)
    assert expected == relay.modelCount() - 1
    assert tuple(relay.claimable(0, 100)) == (expected, True)
    before = relay.creditOf(genesis_owner)
    tx = relay.claim(0, 100, {"from": accounts[19]})  # anyone may call; the creator is paid
    assert tx.return_value == expected
    assert relay.creditOf(genesis_owner) == before + expected * params.lineage_reward
    assert relay.modelOf(0)["claimedUnits"] == expected


def test_claim_resumes_where_it_stopped(three_generations, params):
    relay = three_generations
    total = descendants(relay, 0)
    first = relay.claim(0, 1, {"from": accounts[19]}).return_value
    assert relay.claimable(0, 100)[0] == total - first
    second = relay.claim(0, 100, {"from": accounts[19]}).return_value
    assert first + second == total


def test_every_model_claims_exactly_its_descendants(three_generations):
    relay = three_generations
    for model_id in range(relay.modelCount()):
        assert relay.claimable(model_id, 100)[0] == descendants(relay, model_id)


def test_layers_group_children_by_parent(three_generations):
    relay = three_generations
    for layer in range(relay.layerCount() - 1):
        parents = relay.layerOf(layer)
        children = relay.layerOf(layer + 1)
        start = relay.childStartOf(layer)
        assert len(start) == len(parents) + 1 and start[-1] == len(children)
        for p, parent in enumerate(parents):
            for c in children[start[p]:start[p + 1]]:
                assert relay.modelOf(c)["parentId"] == parent


def test_claim_reverts_when_claiming_twice(three_generations):
    relay = three_generations
    relay.claim(0, 100, {"from": accounts[19]})
    with reverts("RelayNothingToClaim"):
        relay.claim(0, 100, {"from": accounts[19]})


def test_claim_reverts_for_model_without_descendants(relay):
    with reverts("RelayNothingToClaim"):
        relay.claim(0, 10, {"from": accounts[19]})


def test_claim_reverts_for_unknown_model(relay):
    with reverts("RelayUnknownModel"):
        relay.claim(7, 10, {"from": accounts[19]})


def test_claim_reverts_on_zero_layers(relay):
    with reverts("RelayZeroAmount"):
        relay.claim(0, 0, {"from": accounts[19]})


def test_claimable_reverts_for_unknown_model(relay):
    with reverts("RelayUnknownModel"):
        relay.claimable(7, 10)


def test_views_revert_for_unknown_ids(relay):
    with reverts("RelayUnknownModel"):
        relay.modelOf(3)
    with reverts("RelayWrongRound"):
        relay.roundInfo(4)
    assert TOKEN == 10**18
