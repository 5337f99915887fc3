"""MergeRelayLearning (docs/merge.md): the merge relay on chain, played against
`RelayProtocol(merge_horizon=...)` round by round, its refusals, and claim and settle
gas that do not grow with the depth of the relay."""

import pytest
from brownie import accounts, chain
from conftest import ENVELOPE, UNIT_PARAMS, reverts
from scripts.deploy import GENESIS_CID, GENESIS_HASH, deploy
from scripts.relay import RoundScript, play_round

from derelayl import TOKEN, RelayProtocol

HORIZON = 3


@pytest.fixture(scope="module")
def params():
    return UNIT_PARAMS.replace(selection_permille=1000, evaluator_reward=TOKEN // 100)


@pytest.fixture(scope="module")
def allocations(genesis_owner, trainers, evaluators):
    return {a.address: 100 * TOKEN for a in [genesis_owner, *trainers, *evaluators]}


@pytest.fixture(scope="module")
def deployment(deployer, genesis_owner, params, allocations):
    return deploy(deployer, params, genesis_owner, allocations, merge_horizon=HORIZON)


@pytest.fixture
def model(relay, params, genesis_owner, allocations):
    return RelayProtocol(params, genesis_owner.address, GENESIS_HASH, GENESIS_CID, allocations,
                         chain_id=chain.id, contract=relay.address, merge_horizon=HORIZON)


def same_state(relay, model):
    """The contract and the rules agree on every model, layer, credit and claim."""
    assert relay.modelCount() == len(model.models) and relay.layerCount() == len(model.layers)
    for m in model.models:
        on_chain = relay.modelOf(m.model_id)
        assert (on_chain["parentId"], on_chain["layer"], on_chain["index"], on_chain["creator"], on_chain["score"]) == (
            m.parent_id, m.layer, m.index, m.creator, m.score)
        assert tuple(relay.claimable(m.model_id, 1)) == model.claimable(m.model_id, 1)
    for layer in range(len(model.layers)):
        assert list(relay.layerOf(layer)) == model.layer_of(layer)
        assert list(relay.childStartOf(layer)) == []
    for a in accounts[:20]:
        assert relay.creditOf(a) == model.credit.get(a.address, 0)
    assert relay.totalLocked() == model.locked


def test_a_merge_relay_needs_a_horizon(relay, deployer, genesis_owner, params):
    assert relay.mergeHorizon() == HORIZON
    with reverts("RelayInvalidParameter: mergeHorizon"):
        deploy(deployer, params, genesis_owner, {}, merge_horizon=2**32)


@pytest.mark.parametrize("call", ["offer", "courierOffer", "deliverKey", "courierKey"])
def test_the_plain_relays_offers_and_keys_are_refused(relay, genesis_owner, call):
    args = {"offer": (0, 0), "courierOffer": (0, 0), "deliverKey": (0, 0, ENVELOPE), "courierKey": (0, 0, ENVELOPE)}
    with reverts("RelayPlainRelayOnly"):
        getattr(relay, call)(*args[call], {"from": genesis_owner})


def test_rounds_follow_the_merge_relays_rules(relay, model, genesis_owner, trainers, evaluators, params):
    """Round 0: the genesis owner bundles its key to k = 2 slots; round 1: a layer of 2
    models gives 4 slots, bundled by an evaluator of round 0; round 2 likewise. After each
    round the contract and RelayProtocol agree; then every model claims."""
    holders = [genesis_owner, evaluators[0], evaluators[1]]
    # The owners of a round's parent layer may not bid: round 0 accepts 2 of trainers 0-2
    # (the highest bids), round 1 4 of trainers 3-7; trainers 0 and 1 may bid again in round 2.
    for r, bidders in enumerate([trainers[0:3], trainers[3:8], [*trainers[0:2], *trainers[8:12]]]):
        bids = {t: (i + 1) * TOKEN // 10 for i, t in enumerate(bidders)}
        result = play_round(relay, RoundScript(bids=bids, evaluators=evaluators[:2], bundle_from=holders[r]),
                            genesis_owner, model=model)
        assert len(result.slots) == min(len(bids), params.k * len(model.layer_of(model.rounds[r].parent_layer)))
        assert {s["parentId"] for s in result.slots} == {model.layer_of(model.rounds[r].parent_layer)[0]}
        assert all(s["price"] == 0 for s in result.slots)
        same_state(relay, model)
    assert [len(layer) for layer in model.layers] == [1, 2, 4, 6]
    for m in model.models:
        if model.claimable(m.model_id, 1)[0]:
            tx = relay.claim(m.model_id, 1, {"from": accounts[19]})
            assert tx.return_value == model.claim(m.model_id, 1)
    same_state(relay, model)


def test_only_the_layers_key_holders_deliver_its_bundle(relay, genesis_owner, trainers, evaluators, outsider):
    play_round(relay, RoundScript(bids={trainers[0]: 0, trainers[1]: 0}, evaluators=evaluators[:2],
                                  bundle_from=genesis_owner), genesis_owner)
    for e in evaluators[2:4]:
        relay.registerKey(b"\x01" * 32, {"from": e})
        relay.stakeEvaluator(1, {"from": e})
    relay.registerKey(b"\x01" * 32, {"from": trainers[2]})
    relay.bid(1, 0, {"from": trainers[2]})
    relay.closeBidding({"from": outsider})
    relay.closeBidding({"from": outsider})
    owner = relay.modelOf(1)["creator"]
    for sender in (outsider, accounts.at(owner, force=True), evaluators[2]):  # not an evaluator of round 0
        with reverts("RelayNotKeyHolder"):
            relay.deliverBundle(1, 0, ENVELOPE, {"from": sender})
    with reverts("RelayEnvelopeTooLong"):
        relay.deliverBundle(1, 0, b"\x01" * (relay.MAX_BUNDLE_LENGTH() + 1), {"from": evaluators[0]})
    with reverts("RelayKeyNotDelivered"):
        relay.submit(1, 0, b"\x02" * 32, "cid", [ENVELOPE] * 2, {"from": trainers[2]})
    tx = relay.deliverBundle(1, 0, b"\x01" * relay.MAX_BUNDLE_LENGTH(), {"from": evaluators[1]})
    assert tx.events["BundleDelivered"]["holder"] == evaluators[1]


def test_claim_and_settle_gas_do_not_grow_with_depth(deployer, genesis_owner, trainers, evaluators, params):
    """One model a layer for 12 layers (horizon 100): the first claims of a model 10
    layers deep in lineage and of one 1 layer deep cost the same, and so do the
    settlements of round 2 and round 11."""
    relay = deploy(deployer, params.replace(k=1), genesis_owner,
                   {a.address: 100 * TOKEN for a in [genesis_owner, *trainers, *evaluators]}, merge_horizon=100)[1]
    settle_gas = []
    holder = genesis_owner
    for r in range(12):
        result = play_round(relay, RoundScript(bids={trainers[r % 2]: 0}, evaluators=evaluators[:1],
                                               bundle_from=holder), genesis_owner)
        settle_gas.append(result.settle_tx.gas_used)
        holder = evaluators[0]
    assert relay.layerCount() == 13
    deep, shallow = relay.claim(1, 1, {"from": accounts[19]}), relay.claim(11, 1, {"from": accounts[19]})
    assert (deep.return_value, shallow.return_value) == (11, 1)
    assert abs(deep.gas_used - shallow.gas_used) <= 50, (deep.gas_used, shallow.gas_used)
    assert abs(settle_gas[2] - settle_gas[11]) <= 50, settle_gas
