"""The constructor, the genesis state and the parameter checks."""

import pytest
from brownie import RelayLearning, RelayToken
from conftest import close_bidding, reverts
from scripts.deploy import GENESIS_CID, GENESIS_HASH, TASK_SPEC_CID, deploy

from derelayl import TOKEN


def test_genesis_state(relay, token, genesis_owner, params, evaluators):
    assert relay.currentRound() == 0
    assert relay.roundInfo(0)["phase"] == 0
    assert relay.modelCount() == 1 and relay.layerCount() == 1
    assert relay.modelOf(0)["creator"] == genesis_owner
    assert relay.genesisCid() == GENESIS_CID
    assert relay.taskSpecCid() == TASK_SPEC_CID
    assert tuple(relay.currentModelOf(genesis_owner)) == (True, 0)
    assert relay.token() == token
    assert relay.params()[0] == params.k
    assert relay.creditOf(evaluators[0]) == 100 * TOKEN
    assert token.balanceOf(relay) == relay.totalCredited()


@pytest.mark.parametrize(
    "field,value",
    [
        ("k", 0),
        ("k", 7),
        ("selection_permille", 0),
        ("selection_permille", 1001),
        ("max_trainers", 0),
        ("max_trainers", 65),
        ("max_evaluators", 0),
        ("max_evaluators", 17),
        ("quorum", 0),
        ("quorum", 4),
        ("evaluator_penalty_permille", 1001),
        ("score_tolerance", 1_000_001),
        ("evaluator_stake", 2**96),
        ("min_price", 2**96),
        ("score_floor", 1_000_001),
        ("floor_margin", 1_000_001),
    ],
)
def test_constructor_names_the_invalid_parameter(deployer, params, field, value):
    names = {"selection_permille": "selectionPermille", "max_trainers": "maxTrainers",
             "max_evaluators": "maxEvaluators", "evaluator_penalty_permille": "evaluatorPenaltyPermille",
             "score_tolerance": "scoreTolerance", "evaluator_stake": "evaluatorStake", "min_price": "minPrice",
             "score_floor": "scoreFloor", "floor_margin": "floorMargin"}
    with reverts(f"RelayInvalidParameter: {names.get(field, field)}"):
        deploy(deployer, params.replace(**{field: value}))


def test_constructor_bounds_the_score_matrix(deployer, params):
    """64 trainers x 16 evaluators would settle in more than half a block: refused."""
    with reverts("RelayInvalidParameter: maxTrainers\\*maxEvaluators"):
        deploy(deployer, params.replace(k=2, max_trainers=64, max_evaluators=16, quorum=1))
    deploy(deployer, params.replace(k=2, max_trainers=64, max_evaluators=8, quorum=1))
    deploy(deployer, params.replace(k=2, max_trainers=32, max_evaluators=16, quorum=1))


def test_constructor_reverts_when_token_minter_is_another_address(deployer, params):
    token = RelayToken.deploy(deployer, {"from": deployer})
    with reverts("RelayTokenMinterMismatch"):
        RelayLearning.deploy(params.as_tuple(), token, deployer, GENESIS_HASH, GENESIS_CID, "", [], [], {"from": deployer})


def test_constructor_reverts_on_zero_genesis_hash(deployer, params):
    with reverts("RelayZeroHash"):
        deploy(deployer, params, genesis_hash=b"\x00" * 32)


def test_constructor_reverts_on_empty_genesis_cid(deployer, params):
    with reverts("RelayEmptyCid"):
        deploy(deployer, params, genesis_cid="")


def test_constructor_refuses_the_zero_address_as_allocation_holder(deployer, params, genesis_owner):
    """Class 9 (issue 17). Before: the constructor credited address(0), credit that
    nobody can ever withdraw (the allocation was owed to nobody). Now it reverts."""
    from brownie import ZERO_ADDRESS

    with reverts("RelayInvalidParameter: holder"):
        deploy(deployer, params, genesis_owner, {genesis_owner.address: TOKEN, ZERO_ADDRESS: TOKEN})


def test_the_mirror_refuses_the_zero_address_as_allocation_holder(params):
    from derelayl import ProtocolRevert, RelayProtocol

    with pytest.raises(ProtocolRevert, match="RelayInvalidParameter"):
        RelayProtocol(params, "0x" + "11" * 20, allocations={"0x" + "00" * 20: TOKEN})


def test_an_outsider_cannot_close_a_default_deployment_at_once(deployer, genesis_owner, trainers, evaluators,
                                                               outsider):
    """Class 1 (issue 17). Before: a deployment with the default parameters (what
    `derelayl deploy` uses) had every duration at 0, so an outsider with no key, no
    tokens and no role closed Bidding before anyone offered (the round carried over:
    the relay froze for gas only), and the same for every later phase. Now each phase
    lasts its safe duration."""
    from brownie import chain

    from derelayl import DEFAULT_PARAMS

    _, relay = deploy(deployer, DEFAULT_PARAMS, genesis_owner, {evaluators[0]: 100 * TOKEN})
    with reverts("RelayPhaseNotOver"):
        close_bidding(relay, {"from": outsider})
    chain.sleep(DEFAULT_PARAMS.bidding_duration - 5)
    chain.mine()
    with reverts("RelayPhaseNotOver"):
        close_bidding(relay, {"from": outsider})
    chain.sleep(10)
    chain.mine()
    close_bidding(relay, {"from": outsider})  # anyone may close once the deadline passed
