"""The fallback (issue 17): a frontier nobody can serve or improve stops holding the relay.

After `fallbackRounds` rounds in a row that had bids and accepted nothing, settle
appends a layer that offers again the models of the frontier's parent layer. Before
this rule a relay whose frontier owners left (and whose key holders left too) never
moved again: every later round had bids, no offer and no slot.
"""

from conftest import TOKEN, reverts

from scripts.deploy import deploy
from scripts.relay import RoundScript, play_round

STALLED = 15  # RoundView.stalledRounds


def ints(values) -> list[int]:
    return [int(v) for v in values]


def current_model(relay, account) -> int | None:
    found, model_id = relay.currentModelOf(account)
    return int(model_id) if found else None


def deploy_relay(deployer, genesis_owner, people, params, fallback_rounds):
    return deploy(deployer, params.replace(fallback_rounds=fallback_rounds), genesis_owner,
                  {a: 100 * TOKEN for a in [genesis_owner, *people]})[1]


def test_a_frontier_nobody_serves_falls_back_to_its_parent_layer(deployer, genesis_owner, trainers, evaluators,
                                                                  params):
    """Class 5's freeze. Round 0 accepts trainer 0's model (layer 1); then its owner
    leaves and no key holder couriers it: rounds 1 and 2 have a bid and no offer.
    Before: the relay stayed on layer 1 for ever. Now, with fallbackRounds 2, round 3's
    parent layer is a new layer 2 offering the genesis again, and the relay moves."""
    relay = deploy_relay(deployer, genesis_owner, [*trainers, *evaluators], params, 2)
    result = play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[0]: TOKEN, trainers[1]: 0},
                                           evaluators=evaluators[:2]), genesis_owner)
    assert len(result.accepted) == 1 and ints(relay.layerOf(1)) == [1]
    frontier_owner = result.accepted[0][2]
    assert relay.currentModelOf(frontier_owner)[0]

    for r, stalled in ((1, 1), (2, 2)):  # the owner is gone: a bid, no offer, nothing accepted
        play_round(relay, RoundScript(bids={trainers[2]: 0}, evaluators=evaluators[:2]), genesis_owner)
        assert relay.roundInfo(r)["parentLayer"] == 1
        assert relay.roundInfo(r + 1)[STALLED] == (stalled if r == 1 else 0)
    fell_back = relay.events.get_sequence(from_block=0, event_type="RelayFellBack")
    assert [(e.args.round, e.args.frontier, e.args.source, e.args.layer) for e in fell_back] == [(2, 1, 0, 2)]
    assert relay.roundInfo(3)["parentLayer"] == 2 and relay.layerCount() == 3
    assert ints(relay.layerOf(2)) == [0]  # the genesis, offered again
    assert current_model(relay, genesis_owner) == 0
    assert not relay.currentModelOf(frontier_owner)[0]  # its model is no longer the parent

    result = play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[2]: 0, trainers[3]: 0},
                                           evaluators=evaluators[:2]), genesis_owner)
    assert len(result.accepted) == 1
    child = result.accepted[0][0]
    assert relay.modelOf(child)["parentId"] == 0 and relay.modelOf(child)["layer"] == 3
    assert ints(relay.childStartOf(2)) == [0, 1] and ints(relay.childStartOf(1)) == []
    # Lineage: the genesis was paid for its child in layer 1; its scan ends at the
    # frontier it fell back from, so the child after the fallback pays nobody above.
    assert ints(relay.claimable(0, 100)) == [1, 1]
    assert ints(relay.claimable(1, 100)) == [0, 1]
    relay.claim(0, 100, {"from": genesis_owner})
    with reverts("RelayNothingToClaim"):
        relay.claim(1, 100, {"from": frontier_owner})


def test_rounds_without_bids_or_short_of_evaluators_do_not_count(deployer, genesis_owner, trainers, evaluators,
                                                                   params):
    """A quiet relay keeps its frontier: rounds without a bid do not count as stalled,
    nor do rounds whose submissions lacked the quorum (missing evaluators say nothing
    about the frontier)."""
    relay = deploy_relay(deployer, genesis_owner, [*trainers, *evaluators], params, 1)
    owner = play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[0]: 0, trainers[1]: 0},
                                          evaluators=evaluators[:2]), genesis_owner).accepted[0][2]
    for r in (1, 2):
        play_round(relay, RoundScript(), genesis_owner)  # nobody at all
        assert relay.roundInfo(r + 1)["parentLayer"] == 1 and relay.roundInfo(r + 1)[STALLED] == 0
    owner = next(t for t in trainers if t.address == owner)
    result = play_round(relay, RoundScript(offers={owner: 0}, bids={trainers[2]: 0}), genesis_owner)  # no evaluator
    assert result.outcomes == {0: "NoQuorum"}
    assert relay.roundInfo(4)["parentLayer"] == 1 and relay.roundInfo(4)[STALLED] == 0
    assert relay.layerCount() == 2


def test_fallback_goes_one_layer_further_each_time_and_stops_at_the_genesis(deployer, genesis_owner, trainers,
                                                                            evaluators, params):
    """Layers 0 -> 1 -> 2; the owners of layer 2 leave: the relay falls back to the
    models of layer 1 (their owners may offer again and may not bid), then, stalled
    again, to the genesis, and no further: the counter stays at fallbackRounds."""
    relay = deploy_relay(deployer, genesis_owner, [*trainers, *evaluators], params, 1)
    first = play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[0]: 0, trainers[1]: 0},
                                          evaluators=evaluators[:2]), genesis_owner).accepted[0]
    owner1 = next(t for t in trainers if t.address == first[2])
    second = play_round(relay, RoundScript(offers={owner1: 0}, bids={trainers[2]: 0, trainers[3]: 0},
                                           evaluators=evaluators[:2]), genesis_owner).accepted[0]
    assert relay.layerCount() == 3

    play_round(relay, RoundScript(bids={trainers[4]: 0}, evaluators=evaluators[:2]), genesis_owner)
    assert relay.roundInfo(3)["parentLayer"] == 3 and ints(relay.layerOf(3)) == [first[0]]
    assert current_model(relay, owner1) == first[0]
    with reverts("RelayOwnerCannotBid"):
        relay.bid(3, 0, {"from": owner1})
    with reverts("RelayNotParentModel"):
        relay.courierOffer(3, second[0], {"from": evaluators[0]})

    play_round(relay, RoundScript(bids={trainers[4]: 0}, evaluators=evaluators[:2]), genesis_owner)
    assert relay.roundInfo(4)["parentLayer"] == 4 and ints(relay.layerOf(4)) == [0]
    play_round(relay, RoundScript(bids={trainers[4]: 0}, evaluators=evaluators[:2]), genesis_owner)
    assert relay.roundInfo(5)["parentLayer"] == 4 and relay.roundInfo(5)[STALLED] == 1  # nothing before genesis
    assert relay.layerCount() == 5

    # The genesis trains again; its child's lineage counts from layer 4.
    result = play_round(relay, RoundScript(offers={genesis_owner: 0}, bids={trainers[4]: 0, trainers[5]: 0},
                                           evaluators=evaluators[:2]), genesis_owner)
    assert relay.modelOf(result.accepted[0][0])["layer"] == 5 and relay.roundInfo(6)[STALLED] == 0


def test_the_mirror_falls_back_like_the_contract(params):
    """RelayProtocol plays the same rule (the differential test holds them together)."""
    from derelayl import RelayProtocol

    p = RelayProtocol(params.replace(fallback_rounds=2), "0x" + "aa" * 20)
    p.layers.append([1])
    p.child_start[0] = [0, 1]
    assert p._fall_back(1) == 2 and p.layer_of(2) == [0] and p.model_layer(2) == 0
    assert p._fall_back(2) == 2  # the genesis: nothing to fall back to
    assert p._scan_lineage(p.models[0], 10) == (1, 1, 0, 1, True)
