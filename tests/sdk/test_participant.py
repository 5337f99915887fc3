"""derelayl.participant against a real Ganache and a real IPFS daemon.

Participants run as separate OS processes (`derelayl participant`), sharing nothing
but the chain and IPFS. A trainer killed (SIGKILL) in the middle of training is
restarted on its state folder: it trains again, submits exactly once, and the round
settles. A trainer whose IPFS daemon goes away keeps its place and submits once the
daemon is back. `derelayl status` and `derelayl lineage` read the result.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time

import numpy as np
import pytest
from click.testing import CliRunner

from derelayl import crypto, deploy_task, load_task
from derelayl.chain import LocalChain, connect, dev_account
from derelayl.cli import main
from derelayl.errors import EventMissing
from derelayl.client import RelayClient, RoundView
from derelayl.demo import prepare_participant, start_participant, wait_until_ready
from derelayl.ipfs_node import IpfsNode
from derelayl.params import DEFAULT_PARAMS, TOKEN
from derelayl.participant import Participant, ParticipantConfig, close_time
from derelayl.protocol import Phase, SlotOutcome
from derelayl.storage import IpfsStore, StorageUnreachable

# Bidding lasts 20 s where participants are processes: long enough for each to start,
# fetch the task spec and act on a busy 2-core machine, and where four or more agents
# in this process register and act one after another (a transaction a block). Up to
# three in-process agents act within seconds of each other: 10 s.
# Free offers (min_price 0): these tests give tokens to evaluators only, so that every
# credit they check is a round's own flow; the minimum price has its own tests.
PARAMS = DEFAULT_PARAMS.replace(k=2, max_trainers=8, max_evaluators=2, quorum=1, bidding_duration=20,
                                training_duration=300, commit_duration=60, reveal_duration=30, min_price=0)
IN_PROCESS = PARAMS.replace(bidding_duration=10)
# The task of these tests: digits, 2 local epochs a turn (the spec records them).
TASK = load_task("digits-mlp").with_hyperparameters({**load_task("digits-mlp").hyperparameters, "epochs": 2})
# A trainer's own copy of the task code may train differently (the spec fixes the
# model, data schema, metric and hyperparameters, not how a trainer spends its time):
# this one takes about 10 s, time to kill the process in the middle.
SLOW_TASK = """
from derelayl.tasks.digits import DigitsTask


class SlowDigits(DigitsTask):
    def train(self, model, data, *, seed, progress=False):
        for repeat in range(750):
            super().train(model, data, seed=seed + repeat)


task = SlowDigits("mlp")
"""


def wait_for(condition, timeout: float, what: str, processes=()):
    deadline = time.time() + timeout
    while not condition():
        for p in processes:
            if p.poll() is not None and p.returncode != 0:
                raise AssertionError(f"a participant (pid {p.pid}) exited with {p.returncode} while waiting: {what}")
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting: {what}")
        time.sleep(0.5)


@pytest.fixture
def world(ipfs_node, tmp_path):
    """A Ganache that mines every second (deadlines advance) and the data split."""
    with LocalChain(accounts=8, block_time=1) as chain:
        yield {"chain": chain, "ipfs": ipfs_node, "store": IpfsStore(ipfs_node.api), "data": TASK.example_data(),
               "tmp": tmp_path}


def deploy_world(world, genesis_owner: int, evaluators: list[int], params=IN_PROCESS, merge_horizon: int = 0):
    """Deploys the task with a fresh genesis model (a merge relay with `merge_horizon`
    above 0); returns the deployment, the genesis key and CID. The accounts
    `evaluators` (and only they) start with 100 tokens."""
    w3 = connect(world["chain"].url)
    deployment = deploy_task(w3, dev_account(0), TASK, world["store"], entry_point="digits-mlp", params=params,
                             genesis_owner=dev_account(genesis_owner).address, merge_horizon=merge_horizon,
                             allocations={dev_account(i).address: 100 * TOKEN for i in evaluators})
    return deployment, bytes.fromhex(deployment.genesis_key), RelayClient(w3, deployment).cid_of(0)


def agent(world, deployment, index: int, role: str, rows: slice, store=None, log=None, **config) -> Participant:
    """An in-process participant of account `index` with its own state folder."""
    config = ParticipantConfig(role=role, state_dir=world["tmp"] / f"agent{index}", seed=index, close_jitter=0,
                               **config)
    return Participant(config, deployment, dev_account(index), store or world["store"], world["data"].subset(rows),
                       log=log or (lambda message: None))


def settle_round_zero(client, genesis_key: bytes, genesis_owner, trainer, evaluator, later=()):
    """Registers everyone's key (`later` joins after round 0), then plays round 0: the
    genesis owner offers, `trainer` bids, `evaluator` stakes, until the round settles
    with the trainer owning model 1."""
    genesis_owner.state.data["model_keys"]["0"] = genesis_key.hex()
    round_zero = (genesis_owner, trainer, evaluator)
    for p in (*round_zero, *later):
        p.client.register_key(p.keypair.public)
    for p in round_zero:
        p.step(0)  # offer, bid, stake
    wait_for(lambda: [p.step(0) for p in round_zero] and client.current_round() == 1, 120, "round 0 settled")
    assert client.current_model_of(trainer.address) == 1


def test_killed_trainer_resumes_trains_again_and_submits_once(world):
    data, tmp = world["data"], world["tmp"]
    deployment_path = tmp / "deployment.json"
    (tmp / "slow_task.py").write_text(SLOW_TASK)
    roles = {1: "trainer", 2: "trainer", 3: "trainer", 4: "evaluator"}
    parts = {1: slice(0, 300), 2: slice(300, 500), 3: slice(500, 800), 4: slice(800, 1100)}
    folders, processes = {}, {}
    for index, role in roles.items():
        settings = {"role": role, "account_index": index, "deployment": str(deployment_path),
                    "ipfs_api": world["ipfs"].api, "seed": index, "rounds": 1, "threads": 1,
                    "wait_for_deployment": 600}
        if index == 2:
            settings["task"] = str(tmp / "slow_task.py") + ":task"  # its own copy of the task code
        folders[index] = prepare_participant(tmp / f"p{index}", settings, data.subset(parts[index]))
        processes[index] = start_participant(folders[index])
    wait_until_ready(list(folders.values()), list(processes.values()))
    w3 = connect(world["chain"].url)
    deployment = deploy_task(w3, dev_account(0), TASK, world["store"], entry_point="digits-mlp", params=PARAMS,
                             genesis_owner=dev_account(1).address, allocations={dev_account(4).address: 100 * TOKEN})
    deployment.save(deployment_path)
    client = RelayClient(w3, deployment)
    slow = dev_account(2).address

    def slow_trainer_is_training() -> bool:
        slot = client.trainer_slot(0, slow) if client.round_info(0).phase == Phase.TRAINING else None
        return slot is not None and client.slot(0, slot).delivered

    wait_for(slow_trainer_is_training, 180, "the slow trainer gets its key", list(processes.values()))
    time.sleep(3)  # well inside its ~10 s of training
    processes[2].send_signal(signal.SIGKILL)
    processes[2].wait(10)
    state = json.loads((folders[2] / "state.json").read_text())
    assert "cid" not in state["rounds"].get("0", {}), "killed too late: training had finished"
    assert client.events("ModelSubmitted", round=0, trainer=slow) == []

    processes[2] = start_participant(folders[2], append=True)  # the same state folder
    for p in processes.values():
        p.wait(300)
    assert [p.returncode for p in processes.values()] == [0, 0, 0, 0]

    submitted = client.events("ModelSubmitted", round=0, trainer=slow)
    assert len(submitted) == 1
    log = (folders[2] / "log.txt").read_text()
    assert log.count("submitted slot") == 1 and log.count("trained on model 0") == 1
    state = json.loads((folders[2] / "state.json").read_text())
    assert state["rounds"]["0"]["cid"] == submitted[0]["cid"]
    assert (folders[2] / "weights" / f"{submitted[0]['cid']}.safetensors").exists()  # kept locally too
    assert client.current_round() == 1  # round 0 settled
    for folder in folders.values():  # each process counted its calls (the killed one, up to its last write)
        rpc = json.loads((folder / "rpc.json").read_text())
        assert rpc["loop_total"] > 0 and rpc["loop_calls"].get("eth_getLogs", 0) > 0
        assert "eth_estimateGas" not in rpc["loop_calls"]  # known gas limits
    accepted = [e for e in client.events("ModelAccepted", round=0) if e["modelId"] != 0]  # 0: genesis
    assert len(accepted) == 1  # floor(0.5 * 2 slots)
    model_id = accepted[0]["modelId"]
    assert client.cid_of(model_id) == client.slot(0, accepted[0]["slot"]).cid  # both from ModelSubmitted
    assert client.cid_of(model_id) in {e["cid"] for e in client.events("ModelSubmitted", round=0)}
    late = RelayClient(w3, dataclasses.replace(deployment, block=w3.eth.block_number))  # logs from too late a block
    with pytest.raises(EventMissing, match=f"model {model_id}: no ModelSubmitted event for round 0"):
        late.cid_of(model_id)

    runner = CliRunner()
    status = runner.invoke(main, ["status", "--deployment", str(deployment_path)])
    assert status.exit_code == 0, status.output
    assert "round 1: bidding" in status.output and "round 0 accepted 1 model(s)" in status.output
    assert f"evaluator stakers for {PARAMS.max_evaluators} seats" in status.output
    lineage = runner.invoke(main, ["lineage", "--deployment", str(deployment_path)])
    assert lineage.exit_code == 0, lineage.output
    assert lineage.output.splitlines()[0] == "2 models in 2 layers"
    assert "\n  model 1 (round 0, score" in lineage.output


def test_trainer_rides_out_an_ipfs_outage(world):
    """The trainer's own IPFS daemon stops while it should train: the error names the
    address, nothing is submitted or lost, and once the daemon is back (same address,
    same repository) the next poll trains and submits."""
    tmp = world["tmp"]
    own = IpfsNode(repo=tmp / "own-ipfs")
    try:
        deployment, key, genesis_cid = deploy_world(world, genesis_owner=1, evaluators=[3])
        w3 = connect(world["chain"].url)
        client = RelayClient(w3, deployment)
        for cid in (genesis_cid, client.task_spec_cid()):  # the trainer's node holds genesis and the spec too
            IpfsStore(own.api).put(world["store"].get(cid))
        logs: list[str] = []

        owner = agent(world, deployment, 1, "trainer", slice(0, 300), log=logs.append)
        owner.state.data["model_keys"]["0"] = key.hex()
        trainer = agent(world, deployment, 2, "trainer", slice(300, 600), IpfsStore(own.api), logs.append)
        evaluator = agent(world, deployment, 3, "evaluator", slice(600, 900), log=logs.append)
        everyone = [owner, trainer, evaluator]
        for p in everyone:
            p.client.register_key(p.keypair.public)
        for p in everyone:
            p.step(0)  # offer / bid / stake
        def key_delivered() -> bool:
            owner.step(0)  # closes bidding once its deadline passed, then delivers the key
            slot = trainer.my_slot(0)
            return slot is not None and client.slot(0, slot).delivered

        wait_for(key_delivered, 60, "bidding closed and the key delivered")
        assert client.round_info(0).phase == Phase.TRAINING

        own.stop()  # the outage
        with pytest.raises(StorageUnreachable, match=f"tcp/{own.api_port}"):
            trainer.step(0)
        assert "cid" not in trainer.round_state(0) and not client.slot(0, trainer.my_slot(0)).submitted

        own = IpfsNode(repo=tmp / "own-ipfs", api_port=own.api_port)  # back, same address and pins
        trainer.step(0)
        assert client.slot(0, trainer.my_slot(0)).submitted
        assert len(client.events("ModelSubmitted", round=0, trainer=trainer.address)) == 1
        assert client.round_info(0).phase == Phase.COMMITTING  # the only slot submitted: training closed
    finally:
        own.stop()


def test_evaluator_crash_between_salt_and_commit_resumes_with_the_same_salt(world):
    """The salt (32 random bytes) and the scores are on disk before the commitment is
    sent. A crash right there, then a restart on the same folder, commits with that
    salt, and the reveal opens it."""
    tmp = world["tmp"]
    deployment, key, _ = deploy_world(world, genesis_owner=1, evaluators=[3])
    client = RelayClient(connect(world["chain"].url), deployment)

    owner, trainer, evaluator = (agent(world, deployment, 1, "trainer", slice(0, 300)),
                                 agent(world, deployment, 2, "trainer", slice(300, 600)),
                                 agent(world, deployment, 3, "evaluator", slice(600, 900)))
    owner.state.data["model_keys"]["0"] = key.hex()
    for p in (owner, trainer, evaluator):
        p.client.register_key(p.keypair.public)
    for p in (owner, trainer, evaluator):
        p.step(0)  # offer, bid, stake
    wait_for(lambda: [p.step(0) for p in (owner, trainer)] and client.round_info(0).phase == Phase.COMMITTING,
             60, "round 0 reaches committing")

    class Crash(Exception):
        pass

    def crash(*args):
        raise Crash("killed between saving the salt and sending the commitment")

    evaluator.client.commit = crash
    with pytest.raises(Crash):
        evaluator.step(0)
    saved = json.loads((tmp / "agent3" / "state.json").read_text())["rounds"]["0"]
    assert len(bytes.fromhex(saved["salt"])) == 32 and len(saved["scores"]) == 1
    assert not client.evaluator_state(0, evaluator.address).committed

    restarted = agent(world, deployment, 3, "evaluator", slice(600, 900))  # a new process on the same folder
    restarted.step(0)
    expected = client.commitment_for(0, restarted.address, saved["scores"], bytes.fromhex(saved["salt"]))
    assert client.evaluator_state(0, restarted.address).commitment == expected
    wait_for(lambda: restarted.step(0) or client.current_round() == 1, 60, "reveal and settlement")
    assert client.revealed_scores(0, restarted.address) == saved["scores"]


def test_a_copied_submission_scores_zero_and_the_original_is_accepted(world):
    """A copier bids, then submits another trainer's CID, weights hash and key envelopes
    (all public in its ModelSubmitted event) into its own slot. The weights name their
    trainer, round and slot in their (hashed) header, so the honest evaluator scores the
    copy 0: the copier's bid is burned and the original is accepted."""
    # Four agents register and act one after another, on 1-second blocks: 20 s of bidding.
    deployment, key, _ = deploy_world(world, genesis_owner=1, evaluators=[3], params=PARAMS)
    client = RelayClient(connect(world["chain"].url), deployment)
    owner, trainer, evaluator, copier = (agent(world, deployment, 1, "trainer", slice(0, 300)),
                                         agent(world, deployment, 2, "trainer", slice(300, 600)),
                                         agent(world, deployment, 3, "evaluator", slice(600, 900)),
                                         agent(world, deployment, 4, "trainer", slice(900, 1200)))
    owner.state.data["model_keys"]["0"] = key.hex()
    for p in (owner, trainer, evaluator, copier):
        p.client.register_key(p.keypair.public)
        p.step(0)  # offer, bid, stake

    def honest_submitted_and_copier_delivered() -> bool:
        for p in (owner, trainer):
            p.step(0)  # close bidding, deliver keys, train and submit
        slots = trainer.my_slot(0), copier.my_slot(0)
        return None not in slots and client.slot(0, slots[0]).submitted and client.slot(0, slots[1]).delivered

    wait_for(honest_submitted_and_copier_delivered, 90, "the honest model submitted, the copier's key delivered")

    original = client.events("ModelSubmitted", round=0, trainer=trainer.address)[0]
    copy_slot = copier.my_slot(0)
    copier.client.submit(0, copy_slot, original["weightsHash"], original["cid"], original["envelopes"])
    assert client.round_info(0).phase == Phase.COMMITTING
    wait_for(lambda: evaluator.step(0) or client.current_round() == 1, 60, "scoring, reveal and settlement")

    scores = client.revealed_scores(0, evaluator.address)
    assert scores[copy_slot] == 0 and scores[trainer.my_slot(0)] > 0
    outcomes = {e["slot"]: e["outcome"] for e in client.events("SlotSettled", round=0)}
    assert outcomes == {trainer.my_slot(0): SlotOutcome.ACCEPTED, copy_slot: SlotOutcome.REJECTED}


def test_an_evaluator_not_drawn_sits_the_round_out_and_reclaims_its_stake_even_after_a_restart(world):
    """Three evaluators stake for the round's two seats (max_evaluators = 2). When
    bidding closes the contract draws two. The third is stopped there (a crash), so its
    stake stays locked while the round settles on the drawn evaluators' scores.
    Restarted from its state folder in round 1, it reclaims the stake of round 0."""
    # Five agents register and act one after another, on 1-second blocks: 20 s of bidding.
    deployment, key, _ = deploy_world(world, genesis_owner=1, evaluators=[3, 4, 5], params=PARAMS)
    client = RelayClient(connect(world["chain"].url), deployment)
    logs: dict[int, list[str]] = {3: [], 4: [], 5: []}
    rows = {i: slice(300 * i, 300 * i + 300) for i in (3, 4, 5)}
    owner, trainer = (agent(world, deployment, 1, "trainer", slice(0, 300)),
                      agent(world, deployment, 2, "trainer", slice(300, 600)))
    evaluators = [agent(world, deployment, i, "evaluator", rows[i], log=logs[i].append) for i in (3, 4, 5)]
    for i in (3, 4, 5):  # this small test task's quorum of 1 is below SAFE_QUORUM: each joiner is warned
        assert logs[i][0].startswith("warning: this task ranks a model on as few as 1 evaluator score(s)"), logs
    owner.state.data["model_keys"]["0"] = key.hex()
    everyone = [owner, trainer, *evaluators]
    for p in everyone:
        p.client.register_key(p.keypair.public)
        p.step(0)  # offer, bid, stake
    assert len(client.evaluators(0)) == 3  # the pool, while bidding
    wait_for(lambda: [p.step(0) for p in (owner, trainer)] and client.round_info(0).phase != Phase.BIDDING, 60,
             "bidding closed")

    drawn = client.evaluators(0)
    left_out = [e for e in evaluators if e.address not in drawn]
    assert len(drawn) == PARAMS.max_evaluators and len(left_out) == 1
    (out,) = left_out
    wait_for(lambda: [p.step(0) for p in everyone if p is not out] and client.current_round() == 1, 120,
             "round 0 trained, scored and settled without the evaluator left out")
    for e in drawn:
        assert client.revealed_scores(0, e)[0] > 0
    outcomes = {e["slot"]: e["outcome"] for e in client.events("SlotSettled", round=0)}
    assert outcomes == {0: SlotOutcome.ACCEPTED}
    assert client.evaluator_state(0, out.address).staked  # its stake waits for it
    assert client.credit_of(out.address) == 100 * TOKEN - PARAMS.evaluator_stake

    index = int(out.config.seed)
    restarted = agent(world, deployment, index, "evaluator", rows[index], log=logs[index].append)
    restarted.step(1)
    assert any("round 0: not drawn to evaluate; took the stake back" in line for line in logs[index]), logs
    assert not client.evaluator_state(0, out.address).staked
    assert [(e["evaluator"], e["stake"]) for e in client.events("StakeReclaimed", round=0)] == [
        (out.address, PARAMS.evaluator_stake)]
    # Round 0's stake came back in full, and round 1's (the same step staked again) was
    # locked from it.
    assert client.evaluator_state(1, out.address).staked
    assert client.credit_of(out.address) == 100 * TOKEN - PARAMS.evaluator_stake
    restarted.step(1)  # once only
    assert len(client.events("StakeReclaimed", round=0)) == 1


def test_evaluators_keep_the_relay_going_when_the_model_owner_goes_away(world):
    """Round 0 accepts the trainer's model; then that trainer, now the only model
    owner, goes away (it is not stepped again), and round 1 passes without an offer.
    The evaluator of round 0 holds the model's key (sealed to it at submission): in
    round 2, at half-time of Bidding, it offers the model in the owner's place; at
    half-time of Training it couriers the key; the new trainer checks the key against
    the on-chain hash, trains and submits. Its model is accepted, the absent owner's
    lineage grows, and `derelayl status` names the courier."""
    # Training lasts 40 s, so the courier waits 20 s; an empty round closes at its deadline.
    deployment, key, _ = deploy_world(world, genesis_owner=1, evaluators=[3],
                                      params=IN_PROCESS.replace(training_duration=40))
    client = RelayClient(connect(world["chain"].url), deployment)
    logs: list[str] = []
    genesis_owner, gone, trainer = (agent(world, deployment, i, "trainer", slice(300 * i, 300 * i + 300),
                                          empty_round_grace=0) for i in (1, 2, 4))
    evaluator = agent(world, deployment, 3, "evaluator", slice(900, 1200), log=logs.append, empty_round_grace=0)
    settle_round_zero(client, key, genesis_owner, gone, evaluator, later=(trainer,))

    active = (evaluator, trainer)  # the owner of model 1 is gone
    wait_for(lambda: [p.step(client.current_round()) for p in active] and client.current_round() == 2, 120,
             "round 1 passes without an offer")
    assert client.round_info(1).offer_count == 0 and client.round_info(2).parent_layer == 1
    wait_for(lambda: [p.step(2) for p in active] and client.round_info(2).phase >= Phase.TRAINING, 120,
             "round 2: model 1 offered by the evaluator, bidding closed")
    deployment.save(world["tmp"] / "deployment.json")
    status = CliRunner().invoke(main, ["status", "--deployment", str(world["tmp"] / "deployment.json")])
    assert status.exit_code == 0 and "courier: its owner did not offer" in status.output, status.output
    wait_for(lambda: [p.step(2) for p in active] and client.current_round() == 3, 400,
             "round 2: key couriered, trained, scored and settled")

    assert [e["courier"] for e in client.events("OfferCouriered", round=2)] == [evaluator.address]
    (slot,) = [e["slot"] for e in client.events("TrainerMatched", round=2)]
    assert client.events("KeyDelivered", round=2) == []
    (couriered,) = client.events("KeyCouriered", round=2)
    assert (couriered["courier"], couriered["trainer"]) == (evaluator.address, trainer.address)
    assert any("offered model 1 in place of its owner" in line for line in logs), logs
    assert any("couriered the key of model 1" in line for line in logs), logs
    outcomes = {e["slot"]: e["outcome"] for e in client.events("SlotSettled", round=2)}
    assert outcomes == {slot: SlotOutcome.ACCEPTED}
    assert client.model(client.current_model_of(trainer.address)).parent_id == 1
    assert client.claimable(1, 10)[0] == 1  # the absent owner's lineage still grows


def test_a_trainer_sent_a_garbage_key_asks_and_an_evaluator_couriers_the_right_one(world):
    """Round 0 accepts the model of the trainer that will cheat. In round 1 it offers
    that model and delivers, on time, a key that does not open it (the contract cannot
    tell). The new trainer finds the key fails against the on-chain hash and asks
    (`requestKey`); the evaluator of round 0 holds the model's key and couriers it at
    once, without waiting for half-time. The trainer trains and its model is accepted,
    so its bid comes back: the garbage key costs it nothing. Before couriers could
    serve a delivered slot, its bid burned."""
    deployment, key, _ = deploy_world(world, genesis_owner=1, evaluators=[3, 4])  # 100 tokens each
    client = RelayClient(connect(world["chain"].url), deployment)
    logs: dict[str, list[str]] = {"evaluator": [], "trainer": []}
    genesis_owner, cheat = (agent(world, deployment, i, "trainer", slice(300 * i, 300 * i + 300)) for i in (1, 2))
    evaluator = agent(world, deployment, 3, "evaluator", slice(900, 1200), log=logs["evaluator"].append)
    trainer = agent(world, deployment, 4, "trainer", slice(1200, 1500), log=logs["trainer"].append)
    settle_round_zero(client, key, genesis_owner, cheat, evaluator, later=(trainer,))

    cheat.step(1)  # offers model 1; it is not stepped again, so only the garbage key below goes out
    assert [o.model_id for o in client.offers(1)] == [1]
    honest = (evaluator, trainer)
    wait_for(lambda: [p.step(1) for p in honest] and client.round_info(1).phase >= Phase.TRAINING, 60,
             "round 1: bid, stake, bidding closed")
    slot = trainer.my_slot(1)
    garbage = crypto.seal_key(crypto.new_model_key(), client.public_key_of(trainer.address))
    cheat.client.deliver_key(1, slot, garbage)
    bid = client.events("TrainerMatched", round=1, slot=slot)[0]["bid"]
    assert bid > 0 and client.credit_of(trainer.address) == 100 * TOKEN - bid

    wait_for(lambda: [p.step(1) for p in honest] and client.current_round() == 2, 240,
             "round 1: key asked for, couriered, trained, scored and settled")
    (request,) = client.events("KeyRequested", round=1)
    assert (request["slot"], request["trainer"]) == (slot, trainer.address)
    (couriered,) = client.events("KeyCouriered", round=1)
    assert (couriered["slot"], couriered["courier"]) == (slot, evaluator.address)
    assert [line for line in logs["trainer"] if "asked the key holders for the parent's key" in line] == [
        "round 1: asked the key holders for the parent's key (none of 1 opens it)"], logs  # once
    assert len([line for line in logs["trainer"] if "does not open it" in line]) == 1, logs  # tried once
    assert any("its trainer asked: the key it got does not open it" in line for line in logs["evaluator"]), logs
    w3 = client.w3
    delivered_at, couriered_at = (w3.eth.get_block(e["blockNumber"])["timestamp"]
                                  for e in (client.events("KeyDelivered", round=1)[0], couriered))
    assert couriered_at - delivered_at < PARAMS.training_duration / 2  # answered at once, not at half-time
    assert client.events("ModelSubmitted", round=1)[0]["blockNumber"] > couriered["blockNumber"]
    outcomes = {e["slot"]: e["outcome"] for e in client.events("SlotSettled", round=1)}
    assert outcomes == {slot: SlotOutcome.ACCEPTED}
    assert client.model(client.current_model_of(trainer.address)).parent_id == 1
    assert client.credit_of(trainer.address) == 100 * TOKEN  # its bid came back in full


def test_a_garbage_genesis_key_costs_round_zero_trainers_nothing(world):
    """Nobody but the genesis owner holds the genesis key, so nobody could courier it.
    The deployment publishes it instead, and a trainer checks the genesis model with it
    before bidding. Here the genesis owner delivers, on time, a key that does not open
    the genesis (the contract cannot tell): the trainer trains from the published key,
    its model is accepted and its bid comes back in full. Trainers whose deployment
    file publishes a key that does not open the genesis, or no key, do not bid. Before,
    the trainer could not open the genesis, never submitted, and its bid burned."""
    deployment, key, _ = deploy_world(world, genesis_owner=1, evaluators=[2, 3, 4, 5])  # 100 tokens each
    client = RelayClient(connect(world["chain"].url), deployment)
    logs: dict[str, list[str]] = {"doubter": [], "blind": []}
    genesis_owner = agent(world, deployment, 1, "trainer", slice(0, 300))
    trainer = agent(world, deployment, 2, "trainer", slice(300, 600))
    evaluator = agent(world, deployment, 3, "evaluator", slice(600, 900))
    doubter = agent(world, dataclasses.replace(deployment, genesis_key=crypto.new_model_key().hex()), 4, "trainer",
                    slice(900, 1200), log=logs["doubter"].append)
    blind = agent(world, dataclasses.replace(deployment, genesis_key=""), 5, "trainer", slice(1200, 1500),
                  log=logs["blind"].append)
    for p in (doubter, blind):
        p.client.register_key(p.keypair.public)
        p.step(0)  # checks the genesis before bidding, and does not bid
    garbage = crypto.new_model_key()
    settle_round_zero(client, garbage, genesis_owner, trainer, evaluator)  # the owner delivers the garbage key

    assert [e["trainer"] for e in client.events("BidPlaced", round=0)] == [trainer.address]
    (delivered,) = client.events("KeyDelivered", round=0)
    assert crypto.open_envelope(bytes(delivered["envelope"]), trainer.keypair) == garbage != key
    assert client.events("KeyCouriered", round=0) == client.events("KeyRequested", round=0) == []
    assert {e["slot"]: e["outcome"] for e in client.events("SlotSettled", round=0)} == {0: SlotOutcome.ACCEPTED}
    assert client.credit_of(trainer.address) == 100 * TOKEN  # its bid came back in full
    assert client.credit_of(doubter.address) == client.credit_of(blind.address) == 100 * TOKEN
    assert any("not bidding on the genesis model: its published key does not open it" in line
               for line in logs["doubter"]), logs
    assert any("not bidding on the genesis model: the deployment publishes no genesis key" in line
               for line in logs["blind"]), logs


def test_bidding_waits_longer_while_the_round_could_rank_nothing():
    """A Bidding phase is closed at its deadline, or a grace period later while it has
    no bid, no offer or fewer evaluator stakers than the quorum (every slot would end
    NoQuorum)."""
    def bidding(offers: int, stakers: int, phase: Phase = Phase.BIDDING, bids: int = 1) -> RoundView:
        return RoundView(phase, 0, 100, 0, b"", bids, offers, stakers, 0, 0, 0, 0)

    assert close_time(bidding(offers=1, stakers=5), quorum=5, empty_round_grace=30) == 100
    assert close_time(bidding(offers=1, stakers=4), quorum=5, empty_round_grace=30) == 130
    assert close_time(bidding(offers=0, stakers=5), quorum=5, empty_round_grace=30) == 130
    assert close_time(bidding(offers=1, stakers=1), quorum=1, empty_round_grace=30) == 100
    assert close_time(bidding(offers=1, stakers=0), quorum=1, empty_round_grace=30) == 130
    assert close_time(bidding(offers=1, stakers=0, phase=Phase.TRAINING), quorum=5, empty_round_grace=30) == 100
    # No bid: nothing to train (the first round's deadline runs from the deployment, so
    # trainers still starting up would find it closed).
    assert close_time(bidding(offers=1, stakers=5, bids=0), quorum=5, empty_round_grace=30) == 130
    assert close_time(bidding(offers=0, stakers=5, bids=0), quorum=5, empty_round_grace=30, merge_relay=True) == 130
    # Started after the deadline: the grace runs from its start (those started with it
    # need as long to join); a round that can rank something still closes at once.
    assert close_time(bidding(offers=1, stakers=5, bids=0), quorum=5, empty_round_grace=30, started=110) == 140
    assert close_time(bidding(offers=1, stakers=5, bids=0), quorum=5, empty_round_grace=30, started=90) == 130
    assert close_time(bidding(offers=1, stakers=5), quorum=5, empty_round_grace=30, started=110) == 100
    # A merge relay has no offers: only the stakers count.
    assert close_time(bidding(offers=0, stakers=5), quorum=5, empty_round_grace=30, merge_relay=True) == 100
    assert close_time(bidding(offers=0, stakers=4), quorum=5, empty_round_grace=30, merge_relay=True) == 130


def test_an_outbid_trainer_does_not_send_the_same_bid_again(world):
    """Two trainers bid for the only seat (max_trainers 1): the higher bid evicts the
    lower, and a third bid, below the seated one, is refused (RelayBidTooLow). Looking
    again while Bidding lasts, neither sends that bid again (the contract would refuse
    it at every look: a full list only rises); the refused trainer says so once."""
    deployment, _, _ = deploy_world(world, genesis_owner=1, evaluators=[2, 3, 4],
                                    params=IN_PROCESS.replace(k=1, max_trainers=1))
    w3 = connect(world["chain"].url)
    client = RelayClient(w3, deployment)
    logs: dict[int, list[str]] = {2: [], 3: [], 4: []}
    amounts = {2: TOKEN // 10, 3: TOKEN // 5, 4: TOKEN // 10}
    low, high, late = (agent(world, deployment, i, "trainer", slice(300 * i, 300 * i + 300), log=logs[i].append,
                             bid_policy=lambda view, amount=amounts[i]: amount) for i in (2, 3, 4))
    for p in (low, high, late):
        p.client.register_key(p.keypair.public)
    low.step(0)
    high.step(0)
    late.step(0)
    assert [b.trainer for b in client.bids(0)] == [high.address]
    assert [e["trainer"] for e in client.events("BidEvicted", round=0)] == [low.address]
    sent = {p.address: w3.eth.get_transaction_count(p.address) for p in (low, late)}
    for _ in range(3):
        low.step(0)
        late.step(0)
    assert client.round_info(0).phase == Phase.BIDDING
    assert {p.address: w3.eth.get_transaction_count(p.address) for p in (low, late)} == sent
    assert sum("not bidding again this round" in line for line in logs[4]) == 1, logs[4]


def test_an_evaluator_without_tokens_says_so_once_instead_of_failing_every_poll(world):
    """An evaluator given no tokens cannot lock its stake: it says, once a round, what it
    holds and what it needs (and how to get tokens on a dev chain) instead of sending a
    transaction that reverts every poll. One whose tokens sit in its wallet (not its
    credit) approves the relay and stakes from there."""
    deployment, _, _ = deploy_world(world, genesis_owner=1, evaluators=[3])
    client = RelayClient(connect(world["chain"].url), deployment)
    logs: dict[int, list[str]] = {3: [], 4: []}
    wallet_holder, empty = (agent(world, deployment, i, "evaluator", slice(0, 300), log=logs[i].append) for i in (3, 4))
    wallet_holder.client.withdraw(100 * TOKEN)  # its allocation moves from credit to its wallet
    for p in (wallet_holder, empty):
        p.client.register_key(p.keypair.public)
        for _ in range(3):
            p.step(0)
            p._idle = None  # as on a new poll
    assert [line for line in logs[4] if "cannot stake" in line] == [
        f"round 0: cannot stake: holds 0.00 DRL of credit and 0.00 in its wallet, needs 10.00 to stake "
        f"(on a dev chain: `derelayl deploy --allocate {empty.address}=100`)"], logs
    assert not client.evaluator_state(0, empty.address).staked
    assert client.evaluator_state(0, wallet_holder.address).staked and not any("cannot" in m for m in logs[3]), logs
    assert client.wallet_of(wallet_holder.address) == 100 * TOKEN - PARAMS.evaluator_stake
