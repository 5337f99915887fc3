"""The SDK's participants playing a merge relay (MergeRelayLearning, docs/merge.md)
against a real Ganache and a real IPFS daemon, in process, stepped one by one.

Round 0 starts from the genesis, whose owner bundles its key to every slot. Round 1
starts from the whole layer round 0 accepted: its owners sit the round out, round 0's
evaluator bundles every key of the layer, and each new trainer opens every model,
checks it against its on-chain hash, merges them and trains. A trainer sent a bundle
that does not open the layer asks again and another holder bundles the right keys.
"""

from __future__ import annotations

from click.testing import CliRunner

from derelayl import crypto
from derelayl.cli import main
from derelayl.client import RelayClient
from derelayl.chain import connect
from derelayl.params import MERGE_HORIZON, MERGE_SELECTION_PERMILLE
from derelayl.participant import closer_rank
from derelayl.protocol import Phase, SlotOutcome
from test_participant import PARAMS, agent, deploy_world, wait_for, world  # noqa: F401 - world is a fixture

# Bidding lasts 20 s: its clock starts at deployment, and five or six in-process
# participants (each fetching the task spec and checking its data) start after it.
MERGE_PARAMS = PARAMS.replace(selection_permille=MERGE_SELECTION_PERMILLE, bidding_duration=20)


def play_until(client, participants, round_: int, what: str, timeout: float = 300) -> None:
    """Steps `participants` in turn until the relay reaches round `round_`."""
    wait_for(lambda: [p.step(client.current_round()) for p in participants] and client.current_round() >= round_,
             timeout, what)


def accepted_creators(client, round_: int) -> set[str]:
    """The creators of the models round `round_` accepted (not the genesis's event)."""
    return {e["creator"] for e in client.events("ModelAccepted", round=round_) if e["modelId"] != 0}


def test_merge_relay_trainers_start_from_the_whole_parent_layer(world):
    deployment, _, _ = deploy_world(world, genesis_owner=1, evaluators=[3], params=MERGE_PARAMS,
                                    merge_horizon=MERGE_HORIZON)
    client = RelayClient(connect(world["chain"].url), deployment)
    logs: dict[int, list[str]] = {i: [] for i in range(1, 6)}
    genesis_owner, first, evaluator, second, late = (
        agent(world, deployment, i, "evaluator" if i == 3 else "trainer", slice(300 * i - 300, 300 * i),
              log=logs[i].append, empty_round_grace=0) for i in range(1, 6))
    for p in (genesis_owner, first, evaluator, second, late):
        p.client.register_key(p.keypair.public)

    # Round 0: one genesis model, k = 2 slots; the genesis owner bundles its key.
    play_until(client, (genesis_owner, first, second, evaluator), 1, "round 0 settled")
    holders = {(e["slot"], e["holder"]) for e in client.events("BundleDelivered", round=0)}
    assert holders == {(0, genesis_owner.address), (1, genesis_owner.address)}
    assert accepted_creators(client, 0) == {first.address, second.address}, logs
    layer = client.layer(1)
    assert len(layer) == 2

    # Round 1: the owners of layer 1 sit it out; round 0's evaluator bundles both keys.
    everyone = (genesis_owner, first, second, evaluator, late)
    play_until(client, everyone, 2, "round 1 settled")
    assert {e["trainer"] for e in client.events("BidPlaced", round=1)} == {genesis_owner.address, late.address}
    bundles = client.events("BundleDelivered", round=1)
    assert {e["holder"] for e in bundles} == {evaluator.address} and len(bundles) == 2
    for e in bundles:
        trainer = next(p for p in everyone if p.address == e["trainer"])
        keys = crypto.open_bundle(bytes(e["envelope"]), trainer.keypair, 2)
        for model_id, key in zip(layer, keys):
            trainer.open_model(model_id, key)  # every key opens its model and matches its on-chain hash
    assert {e["outcome"] for e in client.events("SlotSettled", round=1)} == {SlotOutcome.ACCEPTED}
    assert accepted_creators(client, 1) == {genesis_owner.address, late.address}
    assert any("trained on a merge of layer 1" in line for line in logs[5]), logs[5]
    assert any("sits the round out: it owns model" in line for line in logs[2]), logs[2]
    assert any("bundled the 2 keys of layer 1 to slot" in line for line in logs[3]), logs[3]
    deployment.save(world["tmp"] / "deployment.json")
    status = CliRunner().invoke(main, ["status", "--deployment", str(world["tmp"] / "deployment.json")])
    assert status.exit_code == 0 and "MergeRelayLearning (lineage horizon 10 layers)" in status.output, status.output
    assert "from all 2 model(s) of layer 2" in status.output, status.output

    # Each of layer 2's two models pays one lineage reward to layer 1, shared by its two
    # models; the owners claim it in round 2's bidding.
    assert client.claimable(layer[0], 64)[0] == client.claimable(layer[1], 64)[0] == 2
    wait_for(lambda: [p.step(2) for p in (first, second)] and client.claimable(layer[0], 64)[0] == 0, 60,
             "layer 1's owners claimed")
    claimed = {e["modelId"]: e["amount"] for e in client.events("LineageClaimed")}
    assert claimed[layer[0]] == claimed[layer[1]] == MERGE_PARAMS.lineage_reward  # 2 rewards / 2 models


def test_a_trainer_sent_a_wrong_bundle_asks_again_and_another_holder_sends_the_keys(world):
    """Both evaluators of round 0 hold the keys of layer 1. In round 1 the holder whose
    turn it is bundles keys that do not open the layer (the contract cannot tell); the
    trainer finds them wrong against the on-chain hashes, asks again (`requestKey`), and
    the other holder, which would otherwise wait for half-time, bundles the right keys
    at once: the trainer trains and its model is accepted."""
    deployment, _, _ = deploy_world(world, genesis_owner=1, evaluators=[3, 4], params=MERGE_PARAMS.replace(
        max_evaluators=2), merge_horizon=MERGE_HORIZON)
    client = RelayClient(connect(world["chain"].url), deployment)
    logs: list[str] = []
    others: list[str] = []
    genesis_owner, first, second = (agent(world, deployment, i, "trainer", slice(300 * i - 300, 300 * i),
                                          empty_round_grace=0, log=others.append) for i in (1, 2, 6))
    evaluators = [agent(world, deployment, i, "evaluator", slice(300 * i - 300, 300 * i), empty_round_grace=0,
                        log=others.append) for i in (3, 4)]
    trainer = agent(world, deployment, 5, "trainer", slice(1200, 1500), log=logs.append, empty_round_grace=0)
    for p in (genesis_owner, first, second, *evaluators, trainer):
        p.client.register_key(p.keypair.public)
    play_until(client, (genesis_owner, first, second, *evaluators), 1, "round 0 settled")
    assert len(client.layer(1)) == 2 and set(client.evaluators(0)) == {e.address for e in evaluators}, others
    turns = {e.address: closer_rank(deployment.relay, 1, Phase.TRAINING, e.address, client.evaluators(0))
             for e in evaluators}
    cheat, honest = sorted(evaluators, key=lambda e: turns[e.address])
    cheat.round_state(1)["bundled"] = list(range(MERGE_PARAMS.max_trainers))  # its own step bundles nothing

    # Round 1: only the new trainer bids (the owners of layer 1 sit it out).
    playing = (*evaluators, trainer)
    wait_for(lambda: [p.step(1) for p in playing if client.round_info(1).phase == Phase.BIDDING]
             and client.round_info(1).phase == Phase.TRAINING, 120, "round 1 in training")
    slot = client.trainer_slot(1, trainer.address)
    garbage = [crypto.new_model_key() for _ in client.layer(1)]
    cheat.client.deliver_bundle(1, slot, crypto.seal_bundle(garbage, trainer.keypair.public))
    play_until(client, playing, 2, "round 1 settled")

    holders = [e["holder"] for e in client.events("BundleDelivered", round=1, slot=slot)]
    assert holders == [cheat.address, honest.address]
    assert [e["trainer"] for e in client.events("KeyRequested", round=1)] == [trainer.address]
    assert accepted_creators(client, 1) == {trainer.address}
    assert any(f"the bundle from {cheat.address} does not open the parent layer" in line for line in logs), logs
